<#
.SYNOPSIS
    Lists VMs: all, one by GUID, or those whose name equals a given name exactly.
.DESCRIPTION
    Names are data, never patterns: Get-VM -Name takes wildcards, so names are compared with -eq after listing.
    With Single and Name, more than one match is VM_AMBIGUOUS and none is VM_NOT_FOUND.
    Part of vmmirror's Hyper-V driver (docs/ps-contract.md): one argument, one JSON object out.
.PARAMETER InputBase64
    Base64 of UTF-8 JSON: { "Id"?: guid, "Name"?: string, "Single"?: bool }.
.OUTPUTS
    One JSON line: {"Ok":true,"Result":{"Vms":[VmInfo...]}} or {"Ok":false,"Error":{"Code":...,"Message":...}}.
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
    $vms = @()
    if ($null -ne $in.Id) {
        $id = ConvertTo-MirrorGuid -Value $in.Id
        $lookupErrors = $null
        $vms = @(Hyper-V\Get-VM -Id $id -ErrorAction SilentlyContinue -ErrorVariable lookupErrors)
        if ($vms.Count -eq 0) { $vms = @(Hyper-V\Get-VM | Where-Object { $_.Id -eq $id }) }
    } elseif ($null -ne $in.Name) {
        $name = [string]$in.Name
        $vms = @(Hyper-V\Get-VM | Where-Object { [string]$_.Name -ceq $name })
        if ($in.Single -eq $true -and $vms.Count -gt 1) {
            throw (New-MirrorException -Code 'VM_AMBIGUOUS' -Message "$($vms.Count) VMs have this name" -Details @{ Ids = @($vms | ForEach-Object { $_.Id.ToString() }) })
        }
        if ($in.Single -eq $true -and $vms.Count -eq 0) { throw (New-MirrorException -Code 'VM_NOT_FOUND' -Message 'No VM has this name') }
    } else {
        $vms = @(Hyper-V\Get-VM)
    }
    $out = New-Object System.Collections.ArrayList
    foreach ($vm in $vms) { [void]$out.Add((ConvertTo-MirrorVmInfo -Vm $vm)) }
    Write-MirrorResult -Result @{ Vms = @($out.ToArray()) }
} catch {
    Write-MirrorError -ErrorRecord $_
}
