<#
.SYNOPSIS
    Registers (or updates) the scheduled tasks that keep vmmirror's agent and guard running as SYSTEM.
.DESCRIPTION
    Two tasks in \vmmirror\: vmmirror-agent and vmmirror-guard, each '<node> <cli> agent|guard --dir <dir>',
    started at boot and by a watchdog trigger every minute (IgnoreNew: a no-op while it runs), with no
    execution time limit. Idempotent: a task whose registered definition already equals the wanted one
    is left alone (Action Unchanged); a different one is replaced (Updated, with the differing fields).
    With WhatIf, nothing is registered: the result says what would be. docs/agent.md, "Scheduled task".
.PARAMETER InputBase64
    Base64 of UTF-8 JSON: { "NodePath": path, "CliPath": path, "ConfigDir": path, "WorkingDirectory": path, "WhatIf": bool }.
.OUTPUTS
    One JSON line: {"Ok":true,"Result":{WhatIf, Changed, TaskPath, Tasks:[...]}} or {"Ok":false,"Error":{...}}.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][ValidatePattern('^[A-Za-z0-9+/=]*$')][string]$InputBase64
)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
try {
    . (Join-Path $PSScriptRoot 'Private/MirrorCommon.ps1')
    . (Join-Path $PSScriptRoot 'Private/MirrorTask.ps1')
    $in = ConvertFrom-MirrorInput -InputBase64 $InputBase64
    $whatIf = ($in.WhatIf -eq $true)
    $specs = @(Get-MirrorTaskSpecs -In $in)
    Import-MirrorScheduledTasks
    $tasks = New-Object System.Collections.ArrayList
    $changed = $false
    foreach ($spec in $specs) {
        $parts = New-MirrorTaskParts -Spec $spec
        $want = $parts.Definition
        $existing = Get-MirrorRegisteredTask -TaskName $spec.TaskName
        $previous = $null
        $differences = @()
        $state = $null
        $action = 'Created'
        if ($null -ne $existing) {
            $previous = ConvertTo-MirrorTaskDefinition -Task $existing
            $differences = @(Get-MirrorDefinitionDifference -Want $want -Have $previous)
            $state = [string]$existing.State
            $action = 'Updated'
            if ($differences.Count -eq 0) { $action = 'Unchanged' }
        }
        $mismatch = @()
        if ($action -ne 'Unchanged' -and -not $whatIf) {
            # -Force replaces an older definition whole; an instance that runs keeps running (the
            # change applies from its next start).
            [void](ScheduledTasks\Register-ScheduledTask -TaskName $spec.TaskName -TaskPath $script:MirrorTaskPath -Action $parts.Action `
                -Trigger $parts.Triggers -Principal $parts.Principal -Settings $parts.Settings -Description $spec.Description -Force)
            $now = Get-MirrorRegisteredTask -TaskName $spec.TaskName
            if ($null -eq $now) { throw (New-MirrorException -Code 'HYPERVISOR_ERROR' -Message "Task $($script:MirrorTaskPath)$($spec.TaskName) is not there after Register-ScheduledTask") }
            # Read back: what Task Scheduler stored must be what was asked, or the next install could never say Unchanged.
            $mismatch = @(Get-MirrorDefinitionDifference -Want $want -Have (ConvertTo-MirrorTaskDefinition -Task $now))
            $state = [string]$now.State
        }
        if ($action -ne 'Unchanged') { $changed = $true }
        [void]$tasks.Add([ordered]@{ TaskName = $spec.TaskName; TaskPath = $script:MirrorTaskPath; Action = $action; Changed = ($action -ne 'Unchanged')
            State = $state; Differences = @($differences); ReadBackMismatch = @($mismatch); Definition = $want; Previous = $previous })
    }
    Write-MirrorResult -Result ([ordered]@{ WhatIf = $whatIf; Changed = $changed; TaskPath = $script:MirrorTaskPath; Tasks = @($tasks.ToArray()) })
} catch {
    Write-MirrorError -ErrorRecord $_
}
