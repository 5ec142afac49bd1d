# CIM cmdlets for the Hyper-V WMI v2 classes vmmirror uses: recovery snapshots, reference points,
# RCT (GetVirtualDiskChanges answers in partial chunks), config-only export. Methods return 4096 +
# a job that stays Running for a while, so callers must poll it as on real hosts.
$script:MockNs = 'root\virtualization\v2'

function New-MockCim {
    param([string]$Class, [hashtable]$Props)
    $Props.MockClass = $Class
    $Props.PSTypeName = "Microsoft.Management.Infrastructure.CimInstance#$($script:MockNs)/$Class"
    [pscustomobject]$Props
}

function New-MockJob {
    param($Result)
    $DelayMs = 120
    $st = Read-MockState
    if ($null -ne $st.Host.JobDelayMs) { $DelayMs = [int]$st.Host.JobDelayMs }
    $id = New-MockId
    $script:MockJobs[$id] = @{ CompletesAt = (Get-MockNow) + $DelayMs; Result = $Result }
    [pscustomobject]@{ ReturnValue = [uint32]4096; Job = (New-MockCim 'Msvm_ConcreteJob' @{ InstanceID = $id; JobState = [uint16]4 }) }
}

function Get-MockFilterValue {
    param([string]$Filter, [string]$Property)
    if ($Filter -notmatch "^\s*$Property\s*=\s*'([^']*)'\s*$") { Throw-MockError "MockHyperV: unsupported WQL filter '$Filter'" 'StubNotImplemented' }
    $Matches[1]
}

function ConvertTo-MockReferencePoint {
    param($Vm, $Rp)
    New-MockCim 'Msvm_VirtualSystemReferencePoint' @{ InstanceID = [string]$Rp.InstanceID; ReferencePointType = [uint16]2
        VirtualSystemIdentifier = [string]$Vm.Id; ConsistencyLevel = [byte]1
        VirtualDiskIdentifiers = [string[]]@($Rp.VirtualDiskIdentifiers); ResilientChangeTrackingIdentifiers = [string[]]@($Rp.ResilientChangeTrackingIdentifiers) }
}

function ConvertTo-MockSnapshotCim {
    param($Vm, $Snap)
    New-MockCim 'Msvm_VirtualSystemSettingData' @{ InstanceID = [string]$Snap.InstanceID; VirtualSystemIdentifier = [string]$Vm.Id
        VirtualSystemType = 'Microsoft:Hyper-V:Snapshot:Recovery'; ElementName = "Recovery of $($Vm.Name)" }
}

function Get-CimInstance {
    [CmdletBinding()]
    param([string]$Namespace = 'root\cimv2', [string]$ClassName, [string]$Filter, $InputObject)
    if ($null -ne $InputObject) {
        if ($InputObject.MockClass -eq 'Msvm_ConcreteJob') {
            $job = $script:MockJobs[[string]$InputObject.InstanceID]
            $stateNow = [uint16]4
            if ((Get-MockNow) -ge [long]$job.CompletesAt) { $stateNow = [uint16]7 }
            return New-MockCim 'Msvm_ConcreteJob' @{ InstanceID = [string]$InputObject.InstanceID; JobState = $stateNow; ErrorCode = [uint16]0; ErrorDescription = '' }
        }
        return $InputObject
    }
    if ($ClassName -eq 'Win32_OperatingSystem') {
        $st = Read-MockState
        return New-MockCim 'Win32_OperatingSystem' @{ FreePhysicalMemory = [uint64][Math]::Floor((Get-MockFreeMemory $st) / 1024); TotalVisibleMemorySize = [uint64][Math]::Floor([long]$st.Host.TotalMemoryBytes / 1024) }
    }
    if ($Namespace -ne $script:MockNs) { Throw-MockError "Invalid namespace '$Namespace' for $ClassName" 'HRESULT 0x8004100e' }
    $state = Read-MockState
    switch ($ClassName) {
        'Msvm_ComputerSystem' {
            $vm = Find-MockVm $state ([guid](Get-MockFilterValue $Filter 'Name'))
            if ($vm) { New-MockCim 'Msvm_ComputerSystem' @{ Name = [string]$vm.Id; ElementName = [string]$vm.Name } }
        }
        { @('Msvm_VirtualSystemSnapshotService', 'Msvm_ImageManagementService', 'Msvm_VirtualSystemReferencePointService', 'Msvm_VirtualSystemManagementService') -contains $_ } {
            New-MockCim $ClassName @{ Name = $ClassName }
        }
        'Msvm_VirtualSystemSettingData' {
            $vm = Find-MockVm $state ([guid](Get-MockFilterValue $Filter 'VirtualSystemIdentifier'))
            if ($vm) { foreach ($s in @($vm.Snapshots)) { ConvertTo-MockSnapshotCim $vm $s } }
        }
        'Msvm_VirtualSystemReferencePoint' {
            $vm = Find-MockVm $state ([guid](Get-MockFilterValue $Filter 'VirtualSystemIdentifier'))
            if ($vm) { foreach ($rp in @($vm.ReferencePoints)) { ConvertTo-MockReferencePoint $vm $rp } }
        }
        default { Throw-MockError "StubNotImplemented: Get-CimInstance -ClassName $ClassName" 'StubNotImplemented' }
    }
}

function Get-CimAssociatedInstance {
    [CmdletBinding()]
    param([Parameter(Mandatory = $true)]$InputObject, [string]$ResultClassName, [string]$Association)
    if ($InputObject.MockClass -eq 'Msvm_ConcreteJob') {
        $r = $script:MockJobs[[string]$InputObject.InstanceID].Result
        if ($null -ne $r -and $r.MockClass -eq $ResultClassName) { return $r }
        return
    }
    $state = Read-MockState
    if ($InputObject.MockClass -eq 'Msvm_VirtualSystemSettingData' -and $ResultClassName -eq 'Msvm_StorageAllocationSettingData') {
        $vm = Find-MockVm $state ([guid]$InputObject.VirtualSystemIdentifier)
        foreach ($s in @($vm.Snapshots)) {
            if ($s.InstanceID -ne $InputObject.InstanceID) { continue }
            foreach ($d in @($s.Disks)) {
                New-MockCim 'Msvm_StorageAllocationSettingData' @{ ResourceSubType = 'Microsoft:Hyper-V:Virtual Hard Disk'
                    HostResource = [string[]]@([string]$d.ParentPath); InstanceID = "$($s.InstanceID)\$($d.DiskIdentifier)" }
            }
        }
        return
    }
    if ($InputObject.MockClass -eq 'Msvm_ComputerSystem' -and $ResultClassName -eq 'Msvm_VirtualSystemReferencePoint') {
        $vm = Find-MockVm $state ([guid]$InputObject.Name)
        foreach ($rp in @($vm.ReferencePoints)) { ConvertTo-MockReferencePoint $vm $rp }
        return
    }
    Throw-MockError "StubNotImplemented: Get-CimAssociatedInstance $($InputObject.MockClass) -> $ResultClassName" 'StubNotImplemented'
}

function Invoke-CimMethod {
    [CmdletBinding()]
    param([Parameter(Mandatory = $true)]$InputObject, [Parameter(Mandatory = $true)][string]$MethodName, [hashtable]$Arguments = @{})
    switch ("$($InputObject.MockClass).$MethodName") {
        'Msvm_VirtualSystemSnapshotService.CreateSnapshot' { return Invoke-MockCreateSnapshot $Arguments }
        'Msvm_VirtualSystemSnapshotService.ConvertToReferencePoint' { return Invoke-MockReleaseSnapshot $Arguments.AffectedSnapshot $true }
        'Msvm_VirtualSystemSnapshotService.DestroySnapshot' { return Invoke-MockReleaseSnapshot $Arguments.AffectedSnapshot $false }
        'Msvm_ImageManagementService.GetVirtualDiskChanges' { return Invoke-MockDiskChanges $Arguments }
        'Msvm_VirtualSystemReferencePointService.DestroyReferencePoint' { return Invoke-MockDestroyReferencePoint $Arguments.AffectedReferencePoint }
        'Msvm_VirtualSystemManagementService.ExportSystemDefinition' { return Invoke-MockExportDefinition $Arguments }
        default { Throw-MockError "StubNotImplemented: Invoke-CimMethod $($InputObject.MockClass).$MethodName" 'StubNotImplemented' }
    }
}
