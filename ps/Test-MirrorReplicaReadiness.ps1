<#
.SYNOPSIS
    Says whether an exported VM could start on this host.
.DESCRIPTION
    Compare-VM -Register incompatibilities (a missing switch is MissingSwitch), configuration version support, memory headroom.
    A VM with the same id already registered here is checked directly (its switches), not through Compare-VM.
    Part of vmmirror's Hyper-V driver (docs/ps-contract.md): one argument, one JSON object out.
.PARAMETER InputBase64
    Base64 of UTF-8 JSON: { "ConfigDir": string, "MemoryBytes": number, "TimeoutMs": number }.
.OUTPUTS
    One JSON line: {"Ok":true,"Result":{"CanStart":bool,"Issues":[{"Kind","Message","MessageId"?}],"FreeMemoryBytes"}} or {"Ok":false,"Error":{"Code":...,"Message":...}}.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][ValidatePattern('^[A-Za-z0-9+/=]*$')][string]$InputBase64
)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
try {
    . (Join-Path $PSScriptRoot 'Private/MirrorCommon.ps1')
    $in = ConvertFrom-MirrorInput -InputBase64 $InputBase64
    . (Join-Path $PSScriptRoot 'Private/MirrorReplica.ps1')
    $vmcx = Get-MirrorVmcxPath -ConfigDir ([string]$in.ConfigDir)
    $issues = New-Object System.Collections.ArrayList
    $vmId = [System.IO.Path]::GetFileNameWithoutExtension($vmcx)
    $existing = $null
    $g = [guid]::Empty
    if ([guid]::TryParse($vmId, [ref]$g)) { $existing = @(Hyper-V\Get-VM | Where-Object { $_.Id -eq $g }) }
    $version = ''
    if ($null -ne $existing -and $existing.Count -gt 0) {
        $version = [string]$existing[0].Version
        $switches = @(Hyper-V\Get-VMSwitch | ForEach-Object { [string]$_.Name })
        foreach ($a in @(Hyper-V\Get-VMNetworkAdapter -VM $existing[0])) {
            if ($a.SwitchName -and $switches -notcontains [string]$a.SwitchName) {
                [void]$issues.Add(@{ Kind = 'MissingSwitch'; Message = "Could not find Ethernet switch '$($a.SwitchName)'."; MessageId = 33012 })
            }
        }
    } else {
        $report = Hyper-V\Compare-VM -Path $vmcx -Register
        $version = [string]$report.VM.Version
        foreach ($i in @($report.Incompatibilities)) { [void]$issues.Add((ConvertTo-MirrorIssue -Incompatibility $i)) }
    }
    if ($version -and -not (Test-MirrorVersionSupported -Version $version)) {
        [void]$issues.Add(@{ Kind = 'ConfigurationVersion'; Message = "Configuration version $version is not supported by this host" })
    }
    $os = @(Get-CimInstance -ClassName Win32_OperatingSystem)[0]
    $free = [uint64]([uint64]$os.FreePhysicalMemory * 1024)
    if ([uint64]$in.MemoryBytes -gt $free) {
        [void]$issues.Add(@{ Kind = 'Memory'; Message = "VM needs $($in.MemoryBytes) bytes of memory, host has $free free" })
    }
    Write-MirrorResult -Result @{ CanStart = ($issues.Count -eq 0); Issues = @($issues.ToArray()); FreeMemoryBytes = $free }
} catch {
    Write-MirrorError -ErrorRecord $_
}
