<#
.SYNOPSIS
    Destroys a VM's RCT reference points except those holding the RCT ids to keep.
.DESCRIPTION
    Reference points accumulate otherwise. Only RCT (type 2) points are touched.
    Part of vmmirror's Hyper-V driver (docs/ps-contract.md): one argument, one JSON object out.
.PARAMETER InputBase64
    Base64 of UTF-8 JSON: { "VmId": guid, "KeepRctIds": [string] }.
.OUTPUTS
    One JSON line: {"Ok":true,"Result":{"Removed":n,"Kept":n}} or {"Ok":false,"Error":{"Code":...,"Message":...}}.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][ValidatePattern('^[A-Za-z0-9+/=]*$')][string]$InputBase64
)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
try {
    . (Join-Path $PSScriptRoot 'Private/MirrorCommon.ps1')
    . (Join-Path $PSScriptRoot 'Private/MirrorCim.ps1')
    $in = ConvertFrom-MirrorInput -InputBase64 $InputBase64
    $id = ConvertTo-MirrorGuid -Value $in.VmId
    $keep = @($in.KeepRctIds | ForEach-Object { [string]$_ })
    $svc = Get-MirrorCimService -ClassName Msvm_VirtualSystemReferencePointService
    $removed = 0
    $kept = 0
    foreach ($rp in (Get-MirrorReferencePoints -VmId $id)) {
        $held = @(@($rp.ResilientChangeTrackingIdentifiers) | Where-Object { $keep -contains [string]$_ })
        if ($held.Count -gt 0) { $kept++; continue }
        $r = Invoke-CimMethod -InputObject $svc -MethodName DestroyReferencePoint -Arguments @{ AffectedReferencePoint = $rp }
        [void](Wait-MirrorCimJob -Result $r -Deadline (Get-MirrorDeadline -TimeoutMs 60000) -What 'DestroyReferencePoint')
        $removed++
    }
    Write-MirrorResult -Result @{ Removed = $removed; Kept = $kept }
} catch {
    Write-MirrorError -ErrorRecord $_
}
