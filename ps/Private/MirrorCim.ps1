# Hyper-V WMI v2 helpers (CIM cmdlets exist in 5.1 and 7). Embedded-instance arguments are
# constant CIM-XML (the DTD 2.0 text WMI's GetText(1) produces), so no CimSerializer is needed and
# no value of ours is ever spliced into them. WQL filters only ever receive a validated GUID.

$script:MirrorSnapshotSettings = '<INSTANCE CLASSNAME="Msvm_VirtualSystemSnapshotSettingData"><PROPERTY NAME="ConsistencyLevel" TYPE="uint8"><VALUE>1</VALUE></PROPERTY><PROPERTY NAME="IgnoreNonSnapshottableDisks" TYPE="boolean"><VALUE>TRUE</VALUE></PROPERTY></INSTANCE>'
$script:MirrorExportSettings = '<INSTANCE CLASSNAME="Msvm_VirtualSystemExportSettingData"><PROPERTY NAME="CopySnapshotConfiguration" TYPE="uint8"><VALUE>1</VALUE></PROPERTY><PROPERTY NAME="CopyVmRuntimeInformation" TYPE="boolean"><VALUE>FALSE</VALUE></PROPERTY><PROPERTY NAME="CopyVmStorage" TYPE="boolean"><VALUE>FALSE</VALUE></PROPERTY><PROPERTY NAME="CreateVmExportSubdirectory" TYPE="boolean"><VALUE>FALSE</VALUE></PROPERTY></INSTANCE>'

function Get-MirrorCimService {
    # A singleton Msvm service instance.
    param([Parameter(Mandatory = $true)][string]$ClassName)
    $svc = @(Get-CimInstance -Namespace $script:MirrorNamespace -ClassName $ClassName)
    if ($svc.Count -lt 1) { throw (New-MirrorException -Code 'HYPERVISOR_ERROR' -Message "$ClassName not found (is Hyper-V installed?)") }
    $svc[0]
}

function Get-MirrorCimVm {
    # The Msvm_ComputerSystem of a VM, by GUID only.
    param([Parameter(Mandatory = $true)][guid]$Id)
    $filter = "Name='" + $Id.ToString() + "'"
    $vm = @(Get-CimInstance -Namespace $script:MirrorNamespace -ClassName Msvm_ComputerSystem -Filter $filter)
    if ($vm.Count -lt 1) { throw (New-MirrorException -Code 'VM_NOT_FOUND' -Message "No VM with id $Id") }
    $vm[0]
}

function Get-MirrorSnapshotById {
    # A VM's snapshot (Msvm_VirtualSystemSettingData) by InstanceID, compared in PowerShell, never in WQL; $null if gone.
    param([Parameter(Mandatory = $true)][guid]$VmId, [Parameter(Mandatory = $true)][string]$InstanceId)
    $filter = "VirtualSystemIdentifier='" + $VmId.ToString() + "'"
    foreach ($s in @(Get-CimInstance -Namespace $script:MirrorNamespace -ClassName Msvm_VirtualSystemSettingData -Filter $filter)) {
        if ([string]$s.InstanceID -eq $InstanceId) { return $s }
    }
    $null
}

function Get-MirrorReferencePoints {
    # The VM's RCT reference points (type 2); Hyper-V Replica's log-based ones (type 1) are left alone.
    param([Parameter(Mandatory = $true)][guid]$VmId)
    $filter = "VirtualSystemIdentifier='" + $VmId.ToString() + "'"
    @(Get-CimInstance -Namespace $script:MirrorNamespace -ClassName Msvm_VirtualSystemReferencePoint -Filter $filter |
        Where-Object { [int]$_.ReferencePointType -eq 2 })
}

function Wait-MirrorNoDifferencingDisk {
    # After a merge Hyper-V finishes in the background: wait until no drive points at an .avhdx.
    param([Parameter(Mandatory = $true)][guid]$VmId, [Parameter(Mandatory = $true)][datetime]$Deadline)
    while ($true) {
        $vm = Get-MirrorVmById -Id $VmId
        $pending = @(Hyper-V\Get-VMHardDiskDrive -VM $vm | Where-Object { ([string]$_.Path) -like '*.avhdx' })
        if ($pending.Count -eq 0) { return }
        if ([DateTime]::UtcNow -ge $Deadline) { throw (New-MirrorException -Code 'VM_TIMEOUT' -Message "Merge of VM $VmId did not finish in time") }
        Start-Sleep -Milliseconds 100
    }
}
