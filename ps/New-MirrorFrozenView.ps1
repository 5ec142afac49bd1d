<#
.SYNOPSIS
    Takes a frozen, read-only view of all of a VM's disks.
.DESCRIPTION
    A recovery snapshot (Msvm_VirtualSystemSnapshotService.CreateSnapshot, SnapshotType 32768), for Off VMs too: the
    snapshot's parents are the base VHDX files, frozen while any guest write goes to new .avhdx files, and releasing
    it with Commit yields RCT ids. A VM that already has checkpoints, is in a transition, or has a drive that cannot be
    replicated (Get-MirrorVm's Problem) is VM_WRONG_STATE. Running VMs: application-consistent first (GuestBackupType
    Copy, so the guest's backup history and logs are left alone), crash-consistent when the guest cannot quiesce.
    The snapshot is renamed "vmmirror-view <time>" so that Remove-MirrorLeftoverView can recognise it later.
    A failure once Hyper-V accepted CreateSnapshot carries Details.JobId / Details.ViewId: what to release.
    Part of vmmirror's Hyper-V driver (docs/ps-contract.md): one argument, one JSON object out.
.PARAMETER InputBase64
    Base64 of UTF-8 JSON: { "VmId": guid, "TimeoutMs": number }.
.OUTPUTS
    One JSON line: {"Ok":true,"Result":{"ViewId","TakenAt","Consistency":"Application"|"Crash","FallbackReason","Disks":[{"BasePath","ReadPath","SizeBytes"}]}} or {"Ok":false,"Error":{"Code":...,"Message":...}}.
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
    . (Join-Path $PSScriptRoot 'Private/MirrorView.ps1')
    $in = ConvertFrom-MirrorInput -InputBase64 $InputBase64
    $id = ConvertTo-MirrorGuid -Value $in.VmId
    $deadline = Get-MirrorDeadline -TimeoutMs $in.TimeoutMs
    $vm = Get-MirrorVmById -Id $id
    $state = $vm.State.ToString()
    $info = ConvertTo-MirrorVmInfo -Vm $vm
    $takenAt = [DateTime]::UtcNow.ToString('o')
    if (@('Off', 'Saved', 'Running', 'Paused') -notcontains $state) {
        throw (New-MirrorException -Code 'VM_WRONG_STATE' -Message "VM $id is $state; cannot freeze it now" -Details @{ State = $state })
    }
    foreach ($d in @($info.Disks)) {
        if ($d.Problem) {
            throw (New-MirrorException -Code 'VM_WRONG_STATE' -Message "VM $id cannot be frozen: disk $($d.Path): $($d.Problem)" -Details @{ State = $state; Disk = [string]$d.Path; Problem = [string]$d.Problem })
        }
        if ($d.Path -ne $d.BasePath) {
            throw (New-MirrorException -Code 'VM_WRONG_STATE' -Message "VM $id already has a checkpoint (disk $($d.Path)); vmmirror needs a VM without checkpoints" -Details @{ State = $state; CheckpointDisk = [string]$d.Path })
        }
    }
    $cimVm = Get-MirrorCimVm -Id $id
    $svc = Get-MirrorCimService -ClassName Msvm_VirtualSystemSnapshotService
    # Application consistency needs a running guest that quiesces (VSS / fs freeze); when it cannot,
    # Hyper-V fails the job and makes nothing, and a crash-consistent view is taken instead.
    $levels = @(2)
    if ($state -eq 'Running') { $levels = @(1, 2) }
    $made = $null
    $fallbackReason = $null
    foreach ($level in $levels) {
        $r = Invoke-CimMethod -InputObject $svc -MethodName CreateSnapshot -Arguments @{
            AffectedSystem = $cimVm; SnapshotSettings = (New-MirrorSnapshotSettings -ConsistencyLevel $level); SnapshotType = [uint16]32768 }
        $jobId = $null
        if ([int]$r.ReturnValue -eq 4096 -and $null -ne $r.Job) { $jobId = [string]$r.Job.InstanceID }
        try {
            $job = Wait-MirrorCimJob -Result $r -Deadline $deadline -What 'CreateSnapshot'
            $made = @{ Level = $level; Job = $job; Result = $r; JobId = $jobId }
            break
        } catch {
            $code = Get-MirrorErrorCode -ErrorRecord $_
            # Past the deadline the job may still finish and leave a snapshot: say which job, so the
            # driver can release what it makes (Remove-MirrorLeftoverView).
            if ($code -eq 'VM_TIMEOUT') { throw (Add-MirrorErrorDetail -ErrorRecord $_ -Details @{ JobId = $jobId }) }
            if ($level -eq 2 -or $code -ne 'HYPERVISOR_ERROR') { throw }
            $fallbackReason = [string]$_.Exception.Message
        }
    }
    $viewId = $null
    try {
        $snap = $null
        if ($null -ne $made.Job) { $snap = @(Get-CimAssociatedInstance -InputObject $made.Job -ResultClassName Msvm_VirtualSystemSettingData)[0] }
        else { $snap = Get-CimInstance -InputObject $made.Result.ResultingSnapshot }
        if ($null -eq $snap) { throw (New-MirrorException -Code 'HYPERVISOR_ERROR' -Message 'CreateSnapshot returned no snapshot') }
        $viewId = [string]$snap.InstanceID
        # The name is how a view left behind (a crash, a failed release) is recognised as vmmirror's.
        Rename-MirrorSnapshot -Vm $vm -InstanceId $viewId -NewName (Get-MirrorViewName -TakenAt $takenAt)
        $parents = @(Get-CimAssociatedInstance -InputObject $snap -ResultClassName Msvm_StorageAllocationSettingData |
            Where-Object { $_.ResourceSubType -eq 'Microsoft:Hyper-V:Virtual Hard Disk' } | ForEach-Object { [string]@($_.HostResource)[0] })
        $disks = New-Object System.Collections.ArrayList
        foreach ($d in @($info.Disks)) {
            # Hyper-V may spell a path in another case than the drive does: compare without case, keep the drive's spelling.
            $covered = @($parents | Where-Object { [string]::Equals($_, [string]$d.BasePath, [StringComparison]::OrdinalIgnoreCase) })
            if ($covered.Count -eq 0) { throw (New-MirrorException -Code 'HYPERVISOR_ERROR' -Message "Snapshot does not cover disk $($d.BasePath)") }
            $vhd = Hyper-V\Get-VHD -Path $d.BasePath
            [void]$disks.Add(@{ BasePath = $d.BasePath; ReadPath = $d.BasePath; SizeBytes = [uint64]$vhd.Size })
        }
    } catch {
        # The snapshot exists but no caller will get its id: name it in the error for the driver to release.
        throw (Add-MirrorErrorDetail -ErrorRecord $_ -Details @{ JobId = $made.JobId; ViewId = $viewId })
    }
    $consistency = 'Crash'
    if ($made.Level -eq 1) { $consistency = 'Application' }
    Write-MirrorResult -Result @{ ViewId = $viewId; TakenAt = $takenAt; Consistency = $consistency; FallbackReason = $fallbackReason; Disks = @($disks.ToArray()) }
} catch {
    Write-MirrorError -ErrorRecord $_
}
