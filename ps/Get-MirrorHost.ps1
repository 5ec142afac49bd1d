<#
.SYNOPSIS
    Facts about this Hyper-V host.
.DESCRIPTION
    Memory headroom, logical processors, virtual switch names, highest supported configuration version.
    Part of vmmirror's Hyper-V driver (docs/ps-contract.md): one argument, one JSON object out.
.PARAMETER InputBase64
    Base64 of UTF-8 JSON: {} (no fields).
.OUTPUTS
    One JSON line: {"Ok":true,"Result":{"Name","FreeMemoryBytes","TotalMemoryBytes","LogicalProcessorCount","SwitchNames":[],"MaxConfigurationVersion"}} or {"Ok":false,"Error":{"Code":...,"Message":...}}.
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
    $vmHost = Hyper-V\Get-VMHost
    $os = @(Get-CimInstance -ClassName Win32_OperatingSystem)[0]
    $switches = @(Hyper-V\Get-VMSwitch | ForEach-Object { [string]$_.Name })
    $max = $null
    foreach ($v in @(Hyper-V\Get-VMHostSupportedVersion)) {
        if ($null -eq $max -or [version]$v.Version -gt $max) { $max = [version]$v.Version }
    }
    $maxText = ''
    if ($null -ne $max) { $maxText = '{0}.{1}' -f $max.Major, $max.Minor }
    Write-MirrorResult -Result @{
        Name = [string]$vmHost.ComputerName
        FreeMemoryBytes = [uint64]([uint64]$os.FreePhysicalMemory * 1024)
        TotalMemoryBytes = [uint64]$vmHost.MemoryCapacity
        LogicalProcessorCount = [int]$vmHost.LogicalProcessorCount
        SwitchNames = @($switches)
        MaxConfigurationVersion = $maxText
    }
} catch {
    Write-MirrorError -ErrorRecord $_
}
