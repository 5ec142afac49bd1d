<#
.SYNOPSIS
    Ends a frozen view: merge, and with Commit turn it into an RCT reference point.
.DESCRIPTION
    Commit: ConvertToReferencePoint (merges the .avhdx; returns the RCT ids, matched to disks by identifier, never by order).
    No commit: DestroySnapshot (merge only; the previous reference stays the baseline); a view already gone is fine.
    Waits until no .avhdx remains.
    Part of vmmirror's Hyper-V driver (docs/ps-contract.md): one argument, one JSON object out.
.PARAMETER InputBase64
    Base64 of UTF-8 JSON: { "VmId": guid, "ViewId": string, "Commit": bool, "TimeoutMs": number }.
.OUTPUTS
    One JSON line: {"Ok":true,"Result":{"References":[{"BasePath","RctId"}]}} or {"Ok":false,"Error":{"Code":...,"Message":...}}.
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
    $deadline = Get-MirrorDeadline -TimeoutMs $in.TimeoutMs
    $viewId = [string]$in.ViewId
    $refs = New-Object System.Collections.ArrayList
    if (-not $viewId) {
        Write-MirrorResult -Result @{ References = @() }
        return
    }
    [void](Get-MirrorVmById -Id $id)
    $snap = Get-MirrorSnapshotById -VmId $id -InstanceId $viewId
    if ($null -eq $snap) {
        # Already merged (a retry after a crash): nothing to do, unless ids were asked for.
        if ($in.Commit -eq $true) { throw (New-MirrorException -Code 'HYPERVISOR_ERROR' -Message "Frozen view $viewId of VM $id no longer exists") }
        Write-MirrorResult -Result @{ References = @() }
        return
    }
    $diskKeys = @{}
    foreach ($sasd in @(Get-CimAssociatedInstance -InputObject $snap -ResultClassName Msvm_StorageAllocationSettingData |
            Where-Object { $_.ResourceSubType -eq 'Microsoft:Hyper-V:Virtual Hard Disk' })) {
        $parent = [string]@($sasd.HostResource)[0]
        $diskKeys[([string]$sasd.InstanceID).ToUpperInvariant()] = $parent
        $ident = [string](Hyper-V\Get-VHD -Path $parent).DiskIdentifier
        if ($ident) { $diskKeys[$ident.Trim('{', '}').ToUpperInvariant()] = $parent }
    }
    $svc = Get-MirrorCimService -ClassName Msvm_VirtualSystemSnapshotService
    if ($in.Commit -eq $true) {
        $r = Invoke-CimMethod -InputObject $svc -MethodName ConvertToReferencePoint -Arguments @{ AffectedSnapshot = $snap }
        $job = Wait-MirrorCimJob -Result $r -Deadline $deadline -What 'ConvertToReferencePoint'
        $rp = $null
        if ($null -ne $job) { $rp = @(Get-CimAssociatedInstance -InputObject $job -ResultClassName Msvm_VirtualSystemReferencePoint)[0] }
        else { $rp = Get-CimInstance -InputObject $r.ResultingReferencePoint }
        Wait-MirrorNoDifferencingDisk -VmId $id -Deadline $deadline
        if ($null -ne $rp) {
            $diskIds = @($rp.VirtualDiskIdentifiers)
            $rctIds = @($rp.ResilientChangeTrackingIdentifiers)
            for ($i = 0; $i -lt $diskIds.Count -and $i -lt $rctIds.Count; $i++) {
                $key = ([string]$diskIds[$i]).Trim('{', '}').ToUpperInvariant()
                if ($diskKeys.ContainsKey($key)) { [void]$refs.Add(@{ BasePath = $diskKeys[$key]; RctId = [string]$rctIds[$i] }) }
            }
        }
    } else {
        $r = Invoke-CimMethod -InputObject $svc -MethodName DestroySnapshot -Arguments @{ AffectedSnapshot = $snap }
        [void](Wait-MirrorCimJob -Result $r -Deadline $deadline -What 'DestroySnapshot')
        Wait-MirrorNoDifferencingDisk -VmId $id -Deadline $deadline
    }
    Write-MirrorResult -Result @{ References = @($refs.ToArray()) }
} catch {
    Write-MirrorError -ErrorRecord $_
}
