<#
.SYNOPSIS
    Ends a frozen view: merge, and with Commit turn it into an RCT reference point.
.DESCRIPTION
    Commit: ConvertToReferencePoint (merges the .avhdx; returns the RCT ids, each paired with its disk through the
    Msvm_StorageAllocationSettingData that VirtualDiskIdentifiers names, never by order; ids whose disk cannot be told
    come back in UnmatchedRctIds so they can still be pruned).
    No commit: DestroySnapshot (merge only; the previous reference stays the baseline); a view already gone is fine.
    Waits until no .avhdx remains.
    Part of vmmirror's Hyper-V driver (docs/ps-contract.md): one argument, one JSON object out.
.PARAMETER InputBase64
    Base64 of UTF-8 JSON: { "VmId": guid, "ViewId": string, "Commit": bool, "TimeoutMs": number }.
.OUTPUTS
    One JSON line: {"Ok":true,"Result":{"References":[{"BasePath","RctId"}],"UnmatchedRctIds":[string]}} or {"Ok":false,"Error":{"Code":...,"Message":...}}.
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
    $unmatched = New-Object System.Collections.ArrayList
    if (-not $viewId) {
        Write-MirrorResult -Result @{ References = @(); UnmatchedRctIds = @() }
        return
    }
    [void](Get-MirrorVmById -Id $id)
    $snap = Get-MirrorSnapshotById -VmId $id -InstanceId $viewId
    if ($null -eq $snap) {
        # Already merged (a retry after a crash): nothing to do, unless ids were asked for.
        if ($in.Commit -eq $true) { throw (New-MirrorException -Code 'HYPERVISOR_ERROR' -Message "Frozen view $viewId of VM $id no longer exists") }
        Write-MirrorResult -Result @{ References = @(); UnmatchedRctIds = @() }
        return
    }
    $basePaths = @((ConvertTo-MirrorVmInfo -Vm (Get-MirrorVmById -Id $id)).Disks | Where-Object { -not $_.Problem } | ForEach-Object { [string]$_.BasePath })
    $svc = Get-MirrorCimService -ClassName Msvm_VirtualSystemSnapshotService
    if ($in.Commit -eq $true) {
        $r = Invoke-CimMethod -InputObject $svc -MethodName ConvertToReferencePoint -Arguments @{ AffectedSnapshot = $snap }
        $job = Wait-MirrorCimJob -Result $r -Deadline $deadline -What 'ConvertToReferencePoint'
        $rp = $null
        if ($null -ne $job) { $rp = @(Get-CimAssociatedInstance -InputObject $job -ResultClassName Msvm_VirtualSystemReferencePoint)[0] }
        else { $rp = Get-CimInstance -InputObject $r.ResultingReferencePoint }
        Wait-MirrorNoDifferencingDisk -VmId $id -Deadline $deadline
        if ($null -ne $rp) {
            # VirtualDiskIdentifiers[i] is the InstanceID of a Msvm_StorageAllocationSettingData
            # (Microsoft:<guid>\...\L), parallel to ResilientChangeTrackingIdentifiers[i]: its
            # HostResource[0] names the disk. An id whose disk cannot be told still goes back, to be pruned.
            $diskIds = @($rp.VirtualDiskIdentifiers)
            $rctIds = @($rp.ResilientChangeTrackingIdentifiers)
            for ($i = 0; $i -lt $rctIds.Count; $i++) {
                $path = $null
                if ($i -lt $diskIds.Count -and $diskIds[$i]) { $path = Get-MirrorSasdPath -InstanceId ([string]$diskIds[$i]) }
                $match = @($basePaths | Where-Object { $null -ne $path -and [string]::Equals($_, $path, [StringComparison]::OrdinalIgnoreCase) })
                if ($match.Count -eq 1) { [void]$refs.Add(@{ BasePath = $match[0]; RctId = [string]$rctIds[$i] }) }
                else { [void]$unmatched.Add([string]$rctIds[$i]) }
            }
        }
    } else {
        $r = Invoke-CimMethod -InputObject $svc -MethodName DestroySnapshot -Arguments @{ AffectedSnapshot = $snap }
        [void](Wait-MirrorCimJob -Result $r -Deadline $deadline -What 'DestroySnapshot')
        Wait-MirrorNoDifferencingDisk -VmId $id -Deadline $deadline
    }
    Write-MirrorResult -Result @{ References = @($refs.ToArray()); UnmatchedRctIds = @($unmatched.ToArray()) }
} catch {
    Write-MirrorError -ErrorRecord $_
}
