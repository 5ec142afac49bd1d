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
    # A job that runs for JobDelayMs (or -DelayMs), then ends in FinalState: 7 completed, 32768
    # completed with warnings, 10 exception (ErrorCode/ErrorDescription set, Result withheld).
    param($Result, $DelayMs, [int]$FinalState = 7, [int]$ErrorCode = 0, [string]$ErrorDescription = '')
    $st = Read-MockState
    if ($null -eq $DelayMs) { $DelayMs = 120; if ($null -ne $st.Host.JobDelayMs) { $DelayMs = [int]$st.Host.JobDelayMs } }
    if ($null -ne $st.Host.JobFinalState -and $FinalState -eq 7) { $FinalState = [int]$st.Host.JobFinalState }
    $id = New-MockId
    $script:MockJobs[$id] = @{ CompletesAt = (Get-MockNow) + [long]$DelayMs; Result = $Result; FinalState = $FinalState
        ErrorCode = $ErrorCode; ErrorDescription = $ErrorDescription }
    [pscustomobject]@{ ReturnValue = [uint32]4096; Job = (New-MockCim 'Msvm_ConcreteJob' @{ InstanceID = $id; JobState = [uint16]4 }) }
}

function Get-MockJobCim {
    param([string]$InstanceId)
    $job = $script:MockJobs[$InstanceId]
    if ($null -eq $job) { return $null }
    $stateNow = [uint16]4; $code = [uint16]0; $text = ''
    if ((Get-MockNow) -ge [long]$job.CompletesAt) { $stateNow = [uint16]$job.FinalState; $code = [uint16]$job.ErrorCode; $text = [string]$job.ErrorDescription }
    New-MockCim 'Msvm_ConcreteJob' @{ InstanceID = $InstanceId; JobState = $stateNow; ErrorCode = $code; ErrorDescription = $text }
}

function ConvertFrom-MockWqlString {
    # A WQL string literal's body: inside '...' a backslash must escape a backslash or a quote
    # (WMI refuses anything else as an invalid query), so unescaped instance IDs fail here as there.
    param([string]$Body)
    $sb = New-Object System.Text.StringBuilder
    for ($i = 0; $i -lt $Body.Length; $i++) {
        $c = $Body[$i]
        if ($c -eq "'") { Throw-MockError "Invalid query: unescaped quote in a WQL string" 'HRESULT 0x80041017' }
        if ($c -eq '\') {
            if ($i + 1 -ge $Body.Length -or @('\', "'") -notcontains [string]$Body[$i + 1]) {
                Throw-MockError "Invalid query: '\$($Body.Substring($i + 1, [Math]::Min(1, $Body.Length - $i - 1)))' is not a WQL escape" 'HRESULT 0x80041017'
            }
            $i++; $c = $Body[$i]
        }
        [void]$sb.Append($c)
    }
    $sb.ToString()
}

function Get-MockFilterString {
    # The value of a "Property='...'" filter whose literal may hold WQL escapes (\\ and \').
    param([string]$Filter, [string]$Property)
    if ($Filter -notmatch "^\s*$Property\s*=\s*'((?:[^'\\]|\\.)*)'\s*$") { Throw-MockError "MockHyperV: unsupported WQL filter '$Filter'" 'StubNotImplemented' }
    ConvertFrom-MockWqlString $Matches[1]
}

function Get-MockSasdId {
    # Hyper-V's shape for a Msvm_StorageAllocationSettingData InstanceID: Microsoft:<owner guid>\<device guid>\<n>\<n>\L.
    param([string]$OwnerId, $Disk)
    'Microsoft:{0}\{1}\0\{2}\L' -f ([string]$OwnerId).ToUpperInvariant(), ([string]$Disk.DeviceId).ToUpperInvariant(), [int]$Disk.ControllerLocation
}

function ConvertTo-MockSasd {
    # The path as Hyper-V may spell it (extension upper-cased): callers must compare without case.
    param([string]$InstanceId, [string]$Path)
    $spelled = $Path
    if ($Path -match '^(.*)\.(vhdx|avhdx)$') { $spelled = $Matches[1] + '.' + $Matches[2].ToUpperInvariant() }
    New-MockCim 'Msvm_StorageAllocationSettingData' @{ ResourceSubType = 'Microsoft:Hyper-V:Virtual Hard Disk'
        HostResource = [string[]]@($spelled); InstanceID = $InstanceId }
}

function Get-MockFilterValue {
    param([string]$Filter, [string]$Property)
    if ($Filter -notmatch "^\s*$Property\s*=\s*'([^']*)'\s*$") { Throw-MockError "MockHyperV: unsupported WQL filter '$Filter'" 'StubNotImplemented' }
    $Matches[1]
}

function ConvertTo-MockReferencePoint {
    param($Vm, $Rp)
    New-MockCim 'Msvm_VirtualSystemReferencePoint' @{ InstanceID = [string]$Rp.InstanceID; ReferencePointType = [uint16]2
        VirtualSystemIdentifier = [string]$Vm.Id; ConsistencyLevel = [byte]$Rp.ConsistencyLevel
        VirtualDiskIdentifiers = [string[]]@($Rp.VirtualDiskIdentifiers); ResilientChangeTrackingIdentifiers = [string[]]@($Rp.ResilientChangeTrackingIdentifiers) }
}

function ConvertTo-MockSnapshotCim {
    param($Vm, $Snap)
    New-MockCim 'Msvm_VirtualSystemSettingData' @{ InstanceID = [string]$Snap.InstanceID; VirtualSystemIdentifier = [string]$Vm.Id
        VirtualSystemType = 'Microsoft:Hyper-V:Snapshot:Recovery'; ElementName = [string]$Snap.Name }
}

function Get-CimInstance {
    [CmdletBinding()]
    param([string]$Namespace = 'root\cimv2', [string]$ClassName, [string]$Filter, $InputObject)
    if ($null -ne $InputObject) {
        if ($InputObject.MockClass -eq 'Msvm_ConcreteJob') { return Get-MockJobCim ([string]$InputObject.InstanceID) }
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
        'Msvm_StorageAllocationSettingData' {
            # The VM's own disk settings (what reference points' VirtualDiskIdentifiers name), by InstanceID.
            $want = Get-MockFilterString $Filter 'InstanceID'
            foreach ($v in @($state.Vms)) {
                foreach ($d in @($v.Disks)) {
                    if ($null -ne $d.DiskNumber) { continue }
                    $sid = Get-MockSasdId $v.Id $d
                    if ($sid -eq $want) { ConvertTo-MockSasd $sid ([string]$d.Path) }
                }
            }
        }
        'Msvm_ConcreteJob' {
            $j = Get-MockJobCim (Get-MockFilterString $Filter 'InstanceID')
            if ($null -ne $j) { $j }
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
            foreach ($d in @($s.Disks)) { ConvertTo-MockSasd (Get-MockSasdId ($s.InstanceID -replace '^Microsoft:', '') $d) ([string]$d.ParentPath) }
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
    # -OperationTimeoutSec is accepted as CimCmdlets does; the mock's methods answer at once.
    param([Parameter(Mandatory = $true)]$InputObject, [Parameter(Mandatory = $true)][string]$MethodName, [hashtable]$Arguments = @{}, [uint32]$OperationTimeoutSec)
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
