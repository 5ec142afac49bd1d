<#
.SYNOPSIS
    Removes vmmirror's scheduled tasks (vmmirror-agent and vmmirror-guard in \vmmirror\).
.DESCRIPTION
    Unregisters each task that exists; a missing one is reported (Found false), not an error, so
    uninstalling twice is harmless. Running instances are NOT stopped: stopping the guard while this
    host runs VMs would let the peer start them after the lease while they still run here (DESIGN C1),
    and stopping the agent makes the guard turn them off. State says what ran. With WhatIf, nothing
    is removed. docs/agent.md, "Scheduled task".
.PARAMETER InputBase64
    Base64 of UTF-8 JSON: { "WhatIf": bool }.
.OUTPUTS
    One JSON line: {"Ok":true,"Result":{WhatIf, Changed, TaskPath, Tasks:[{TaskName, Found, Removed, State}]}} or an error.
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
    Import-MirrorScheduledTasks
    $tasks = New-Object System.Collections.ArrayList
    $changed = $false
    foreach ($name in @('vmmirror-agent', 'vmmirror-guard')) {
        $existing = Get-MirrorRegisteredTask -TaskName $name
        $state = $null
        $removed = $false
        if ($null -ne $existing) {
            $state = [string]$existing.State
            if (-not $whatIf) {
                ScheduledTasks\Unregister-ScheduledTask -TaskName $name -TaskPath $script:MirrorTaskPath -Confirm:$false
                if ($null -ne (Get-MirrorRegisteredTask -TaskName $name)) {
                    throw (New-MirrorException -Code 'HYPERVISOR_ERROR' -Message "Task $($script:MirrorTaskPath)$name is still registered after Unregister-ScheduledTask")
                }
                $removed = $true
            }
            $changed = $true
        }
        [void]$tasks.Add([ordered]@{ TaskName = $name; TaskPath = $script:MirrorTaskPath; Found = ($null -ne $existing); Removed = $removed; State = $state })
    }
    Write-MirrorResult -Result ([ordered]@{ WhatIf = $whatIf; Changed = $changed; TaskPath = $script:MirrorTaskPath; Tasks = @($tasks.ToArray()) })
} catch {
    Write-MirrorError -ErrorRecord $_
}
