<#
.SYNOPSIS
    Takes a frozen, read-only view of all of a VM's disks.
.DESCRIPTION
    A recovery snapshot (Msvm_VirtualSystemSnapshotService.CreateSnapshot, SnapshotType 32768), for Off VMs too: the
    snapshot's parents are the base VHDX files, frozen while any guest write goes to new .avhdx files, and releasing
    it with Commit yields RCT ids. A VM that already has checkpoints, or is in a transition, is VM_WRONG_STATE.
    Part of vmmirror's Hyper-V driver (docs/ps-contract.md): one argument, one JSON object out.
.PARAMETER InputBase64
    Base64 of UTF-8 JSON: { "VmId": guid, "TimeoutMs": number }.
.OUTPUTS
    One JSON line: {"Ok":true,"Result":{"ViewId","TakenAt","Disks":[{"BasePath","ReadPath","SizeBytes"}]}} or {"Ok":false,"Error":{"Code":...,"Message":...}}.
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
    $vm = Get-MirrorVmById -Id $id
    $state = $vm.State.ToString()
    $info = ConvertTo-MirrorVmInfo -Vm $vm
    $takenAt = [DateTime]::UtcNow.ToString('o')
    $disks = New-Object System.Collections.ArrayList
if (@('Off', 'Saved', 'Running', 'Paused') -notcontains $state) {
    throw (New-MirrorException -Code 'VM_WRONG_STATE' -Message "VM $id is $state; cannot freeze it now" -Details @{ State = $state })
}
foreach ($d in @($info.Disks)) {
    if ($d.Path -ne $d.BasePath) {
        throw (New-MirrorException -Code 'VM_WRONG_STATE' -Message "VM $id already has a checkpoint (disk $($d.Path)); vmmirror needs a VM without checkpoints" -Details @{ State = $state; CheckpointDisk = [string]$d.Path })
    }
}
$cimVm = Get-MirrorCimVm -Id $id
    $svc = Get-MirrorCimService -ClassName Msvm_VirtualSystemSnapshotService
    $r = Invoke-CimMethod -InputObject $svc -MethodName CreateSnapshot -Arguments @{
        AffectedSystem = $cimVm; SnapshotSettings = $script:MirrorSnapshotSettings; SnapshotType = [uint16]32768 }
    $job = Wait-MirrorCimJob -Result $r -Deadline $deadline -What 'CreateSnapshot'
    $snap = $null
    if ($null -ne $job) { $snap = @(Get-CimAssociatedInstance -InputObject $job -ResultClassName Msvm_VirtualSystemSettingData)[0] }
    else { $snap = Get-CimInstance -InputObject $r.ResultingSnapshot }
    if ($null -eq $snap) { throw (New-MirrorException -Code 'HYPERVISOR_ERROR' -Message 'CreateSnapshot returned no snapshot') }
    $parents = @(Get-CimAssociatedInstance -InputObject $snap -ResultClassName Msvm_StorageAllocationSettingData |
        Where-Object { $_.ResourceSubType -eq 'Microsoft:Hyper-V:Virtual Hard Disk' } | ForEach-Object { [string]@($_.HostResource)[0] })
    foreach ($d in @($info.Disks)) {
        $read = $null
        foreach ($p in $parents) { if ($p -eq $d.BasePath) { $read = $p } }
        if ($null -eq $read) { throw (New-MirrorException -Code 'HYPERVISOR_ERROR' -Message "Snapshot does not cover disk $($d.BasePath)") }
        $vhd = Hyper-V\Get-VHD -Path $read
        [void]$disks.Add(@{ BasePath = $d.BasePath; ReadPath = $read; SizeBytes = [uint64]$vhd.Size })
    }
    Write-MirrorResult -Result @{ ViewId = [string]$snap.InstanceID; TakenAt = $takenAt; Disks = @($disks.ToArray()) }
} catch {
    Write-MirrorError -ErrorRecord $_
}
