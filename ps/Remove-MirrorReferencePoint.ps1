<#
.SYNOPSIS
    Destroys the VM's RCT reference points that vmmirror made (they hold an id in PruneRctIds) and that hold no id to keep.
.DESCRIPTION
    Reference points accumulate otherwise. Only RCT (type 2) points holding an id vmmirror handed out are touched, so a
    backup product's own reference points survive.
    Part of vmmirror's Hyper-V driver (docs/ps-contract.md): one argument, one JSON object out.
.PARAMETER InputBase64
    Base64 of UTF-8 JSON: { "VmId": guid, "KeepRctIds": [string], "PruneRctIds": [string] }.
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
    $ours = @($in.PruneRctIds | ForEach-Object { [string]$_ })
    $svc = Get-MirrorCimService -ClassName Msvm_VirtualSystemReferencePointService
    $removed = 0
    $kept = 0
    foreach ($rp in (Get-MirrorReferencePoints -VmId $id)) {
        $ids = @($rp.ResilientChangeTrackingIdentifiers | ForEach-Object { [string]$_ })
        $held = @($ids | Where-Object { $keep -contains $_ })
        $mine = @($ids | Where-Object { $ours -contains $_ })
        if ($held.Count -gt 0 -or $mine.Count -eq 0) { $kept++; continue }
        $r = Invoke-CimMethod -InputObject $svc -MethodName DestroyReferencePoint -Arguments @{ AffectedReferencePoint = $rp }
        [void](Wait-MirrorCimJob -Result $r -Deadline (Get-MirrorDeadline -TimeoutMs 60000) -What 'DestroyReferencePoint')
        $removed++
    }
    Write-MirrorResult -Result @{ Removed = $removed; Kept = $kept }
} catch {
    Write-MirrorError -ErrorRecord $_
}
