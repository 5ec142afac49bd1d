# The mock Hyper-V as a strict judge of embedded instances (test/hypervisor/mock-hyperv/Private/CimXml.ps1):
# no real WMI can read ConvertTo-MirrorCimXml's text here, so the mock must refuse what WMI would.
# It accepts what ps/ sends and GetText(1)-shaped text, refuses each class of defect (hand-made XML),
# and a mutated copy of ConvertTo-MirrorCimXml makes the freeze and export paths fail on it.
BeforeAll {
    # Re-imported only when another test file has not loaded it already (an import costs a second or
    # more: the suite's budget); the state folder below is this file's own either way.
    $manifest = (Resolve-Path (Join-Path $PSScriptRoot '../hypervisor/mock-hyperv/Hyper-V.psd1')).Path
    $loaded = Get-Module Hyper-V
    if ($null -eq $loaded -or (Split-Path -Parent $loaded.Path) -ne (Split-Path -Parent $manifest)) { Import-Module $manifest -DisableNameChecking -Force }
    $global:CimTestDir = Join-Path ([IO.Path]::GetTempPath()) ('mockcim-' + [guid]::NewGuid())
    Set-MockHyperVState -Path $global:CimTestDir
    Set-MockHost -Settings @{ JobDelayMs = 0 }
    $global:CimPsDir = Join-Path $PSScriptRoot '../../ps'
    . (Join-Path $global:CimPsDir 'Private/MirrorCommon.ps1')
    . (Join-Path $global:CimPsDir 'Private/MirrorCim.ps1')

    function Invoke-ScriptIn {
        # Runs a driver script from $Dir (ps/ or a mutated copy) the way the runner does; returns its one reply.
        param([string]$Dir, [string]$Name, $InputObject)
        $b64 = [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes((ConvertTo-Json -InputObject $InputObject -Depth 10 -Compress)))
        $replies = @(& (Join-Path $Dir "$Name.ps1") -InputBase64 $b64 | Where-Object { ([string]$_).StartsWith('{') })
        if ($replies.Count -ne 1) { throw "expected one reply from $Name, got $($replies.Count)" }
        ConvertFrom-Json -InputObject $replies[0]
    }

    function New-MutatedPs {
        # A copy of the freeze and export scripts whose Private/MirrorCim.ps1 has $From replaced by $To
        # (once at least: a mutation that changes nothing would make the test vacuous).
        param([string]$From, [string]$To)
        $dir = Join-Path $global:CimTestDir ('ps-' + [guid]::NewGuid().ToString('N'))
        [void](New-Item -ItemType Directory -Force -Path (Join-Path $dir 'Private'))
        foreach ($f in @('New-MirrorFrozenView.ps1', 'Export-MirrorVmConfig.ps1')) { Copy-Item -LiteralPath (Join-Path $global:CimPsDir $f) -Destination $dir }
        Copy-Item -Path (Join-Path $global:CimPsDir 'Private/*.ps1') -Destination (Join-Path $dir 'Private')
        $cim = Join-Path $dir 'Private/MirrorCim.ps1'
        $text = [IO.File]::ReadAllText($cim)
        $mutated = $text.Replace($From, $To)
        if ($mutated -eq $text) { throw "mutation not applied: '$From' is not in MirrorCim.ps1" }
        [IO.File]::WriteAllText($cim, $mutated)
        $dir
    }

    function Get-LastRefusal { @((Get-MockState).Host.EmbeddedInstanceRefusals)[-1] }

    function New-TestVmWithDisk {
        param([string]$Name, [string]$State = 'Off')
        New-MockVm -Name $Name -State $State -HeartbeatDelayMs 0 -Disks @(@{ Path = (Join-Path $global:CimTestDir "d/$Name.vhdx"); SizeBytes = 1MB })
    }

    # One Off VM for every case that must make nothing (a refused snapshot or export leaves it as it was).
    $global:JudgedVmId = New-TestVmWithDisk -Name 'judged'
    $global:SnapClass = 'Msvm_VirtualSystemSnapshotSettingData'
    $global:ExportClass = 'Msvm_VirtualSystemExportSettingData'
}
AfterAll { Remove-Item -LiteralPath $global:CimTestDir -Recurse -Force -ErrorAction SilentlyContinue }

Describe 'MockHyperV embedded-instance judge' {
    It 'accepts what ps/ sends, each value typed as the class declares it' {
        $app = ConvertFrom-MockEmbeddedInstance -Text (New-MirrorSnapshotSettings -ConsistencyLevel 1) -ClassName $global:SnapClass
        $app.ConsistencyLevel | Should -BeOfType [byte]
        $app.ConsistencyLevel | Should -Be 1
        $app.GuestBackupType | Should -BeOfType [byte]
        $app.GuestBackupType | Should -Be 2
        $app.IgnoreNonSnapshottableDisks | Should -BeTrue
        (ConvertFrom-MockEmbeddedInstance -Text (New-MirrorSnapshotSettings -ConsistencyLevel 2) -ClassName $global:SnapClass).Keys | Sort-Object | Should -Be @('ConsistencyLevel', 'IgnoreNonSnapshottableDisks')
        $exp = ConvertFrom-MockEmbeddedInstance -Text (New-MirrorExportSettings) -ClassName $global:ExportClass
        $exp.CopySnapshotConfiguration | Should -BeOfType [byte]
        $exp.CopySnapshotConfiguration | Should -Be 1
        foreach ($k in @('CopyVmRuntimeInformation', 'CopyVmStorage', 'CreateVmExportSubdirectory')) { $exp[$k] | Should -BeOfType [bool]; $exp[$k] | Should -BeFalse }
    }

    It 'accepts text shaped as GetText(1) writes it: CLASSORIGIN, QUALIFIER, NULL properties, arrays, names in any case' {
        $x = '<INSTANCE CLASSNAME="msvm_virtualsystemexportsettingdata"><QUALIFIER NAME="dynamic" TYPE="boolean"><VALUE>TRUE</VALUE></QUALIFIER>' +
            '<PROPERTY NAME="Caption" CLASSORIGIN="CIM_ManagedElement" PROPAGATED="true" TYPE="string"></PROPERTY>' +
            '<PROPERTY NAME="copyvmstorage" TYPE="boolean"><VALUE>false</VALUE></PROPERTY>' +
            '<PROPERTY.ARRAY NAME="ExcludedVirtualHardDisks" TYPE="string" ARRAYSIZE="2"><VALUE.ARRAY><VALUE>C:\a &amp; b.vhdx</VALUE><VALUE.NULL/></VALUE.ARRAY></PROPERTY.ARRAY>' +
            '<PROPERTY NAME="BackupIntent" TYPE="uint8"><VALUE>255</VALUE></PROPERTY></INSTANCE>'
        $p = ConvertFrom-MockEmbeddedInstance -Text $x -ClassName $global:ExportClass
        $p.Keys | Sort-Object | Should -Be @('BackupIntent', 'Caption', 'CopyVmStorage', 'ExcludedVirtualHardDisks')
        $p.Caption | Should -BeNullOrEmpty
        $p.CopyVmStorage | Should -BeFalse
        $p.ExcludedVirtualHardDisks[0] | Should -Be 'C:\a & b.vhdx'
        $null -eq $p.ExcludedVirtualHardDisks[1] | Should -BeTrue
        $p.BackupIntent | Should -Be 255
    }

    It 'refuses <Defect>' -ForEach @(
        @{ Defect = 'an unknown property'; Reason = '*Consistency: * has no such property*'
            Xml = '<INSTANCE CLASSNAME="Msvm_VirtualSystemSnapshotSettingData"><PROPERTY NAME="Consistency" TYPE="uint8"><VALUE>2</VALUE></PROPERTY></INSTANCE>' }
        @{ Defect = 'a CIM type that is not the class''s (uint16 for uint8)'; Reason = '*ConsistencyLevel: TYPE uint16, but * declares uint8*'
            Xml = '<INSTANCE CLASSNAME="Msvm_VirtualSystemSnapshotSettingData"><PROPERTY NAME="ConsistencyLevel" TYPE="uint16"><VALUE>2</VALUE></PROPERTY></INSTANCE>' }
        @{ Defect = 'a type name that is no CIM type (UInt8)'; Reason = "*TYPE 'UInt8' is not a CIM type*"
            Xml = '<INSTANCE CLASSNAME="Msvm_VirtualSystemSnapshotSettingData"><PROPERTY NAME="ConsistencyLevel" TYPE="UInt8"><VALUE>2</VALUE></PROPERTY></INSTANCE>' }
        @{ Defect = 'a uint8 of 300'; Reason = '*ConsistencyLevel (uint8): 300 is out of range*'
            Xml = '<INSTANCE CLASSNAME="Msvm_VirtualSystemSnapshotSettingData"><PROPERTY NAME="ConsistencyLevel" TYPE="uint8"><VALUE>300</VALUE></PROPERTY></INSTANCE>' }
        @{ Defect = 'a boolean "yes"'; Reason = "*IgnoreNonSnapshottableDisks (boolean): 'yes' is not TRUE or FALSE*"
            Xml = '<INSTANCE CLASSNAME="Msvm_VirtualSystemSnapshotSettingData"><PROPERTY NAME="IgnoreNonSnapshottableDisks" TYPE="boolean"><VALUE>yes</VALUE></PROPERTY></INSTANCE>' }
        @{ Defect = 'malformed XML (an unclosed element)'; Reason = '*malformed XML*'
            Xml = '<INSTANCE CLASSNAME="Msvm_VirtualSystemSnapshotSettingData"><PROPERTY NAME="ConsistencyLevel" TYPE="uint8"><VALUE>2</VALUE></INSTANCE>' }
        @{ Defect = 'a wrong CLASSNAME'; Reason = "*CLASSNAME 'Msvm_VirtualSystemSettingData' is not Msvm_VirtualSystemSnapshotSettingData*"
            Xml = '<INSTANCE CLASSNAME="Msvm_VirtualSystemSettingData"><PROPERTY NAME="ConsistencyLevel" TYPE="uint8"><VALUE>2</VALUE></PROPERTY></INSTANCE>' }
        @{ Defect = 'a DTD (an entity standing for the value)'; Reason = '*malformed XML*DTD*'
            Xml = '<!DOCTYPE INSTANCE [<!ENTITY two "2">]><INSTANCE CLASSNAME="Msvm_VirtualSystemSnapshotSettingData"><PROPERTY NAME="ConsistencyLevel" TYPE="uint8"><VALUE>&two;</VALUE></PROPERTY></INSTANCE>' }
    ) {
        { ConvertFrom-MockEmbeddedInstance -Text $Xml -ClassName $global:SnapClass } | Should -Throw $Reason
    }

    It 'answers 32773 (Invalid parameter) to CreateSnapshot and ExportSystemDefinition given a refused instance, makes nothing, and records why' {
        $id = $global:JudgedVmId
        $ns = 'root\virtualization\v2'
        $cs = Get-CimInstance -Namespace $ns -ClassName Msvm_ComputerSystem -Filter "Name='$id'"
        $svc = Get-CimInstance -Namespace $ns -ClassName Msvm_VirtualSystemSnapshotService
        $bad = '<INSTANCE CLASSNAME="Msvm_VirtualSystemSnapshotSettingData"><PROPERTY NAME="ConsistencyLevel" TYPE="uint16"><VALUE>2</VALUE></PROPERTY></INSTANCE>'
        (Invoke-CimMethod -InputObject $svc -MethodName CreateSnapshot -Arguments @{ AffectedSystem = $cs; SnapshotSettings = $bad; SnapshotType = [uint16]32768 }).ReturnValue | Should -Be 32773
        $r = Get-LastRefusal
        "$($r.Method) $($r.Parameter)" | Should -Be 'CreateSnapshot SnapshotSettings'
        $r.Reason | Should -BeLike '*TYPE uint16*'
        @(Get-CimInstance -Namespace $ns -ClassName Msvm_VirtualSystemSettingData -Filter "VirtualSystemIdentifier='$id'").Count | Should -Be 0
        $vsms = Get-CimInstance -Namespace $ns -ClassName Msvm_VirtualSystemManagementService
        $export = (New-MirrorExportSettings).Replace('CopyVmStorage', 'CopyStorage')
        $e = Invoke-CimMethod -InputObject $vsms -MethodName ExportSystemDefinition -Arguments @{ ComputerSystem = $cs; ExportDirectory = (Join-Path $global:CimTestDir 'exp-refused'); ExportSettingData = $export }
        $e.ReturnValue | Should -Be 32773
        (Get-LastRefusal).Reason | Should -BeLike '*CopyStorage: * has no such property*'
        Test-Path -LiteralPath (Join-Path $global:CimTestDir 'exp-refused') | Should -BeFalse
    }

    It 'refuses TargetSnapshotId on a VHDX, even empty (documented as valid only for VHD Sets)' {
        $disk = Join-Path $global:CimTestDir 'd/target.vhdx'
        $id = New-MockVm -Name 'target' -Disks @(@{ Path = $disk; SizeBytes = 1MB })
        $ns = 'root\virtualization\v2'
        $svc = Get-CimInstance -Namespace $ns -ClassName Msvm_VirtualSystemSnapshotService
        $cs = Get-CimInstance -Namespace $ns -ClassName Msvm_ComputerSystem -Filter "Name='$id'"
        $r = Invoke-CimMethod -InputObject $svc -MethodName CreateSnapshot -Arguments @{ AffectedSystem = $cs; SnapshotSettings = (New-MirrorSnapshotSettings -ConsistencyLevel 2); SnapshotType = [uint16]32768 }
        $snap = Get-CimAssociatedInstance -InputObject $r.Job -ResultClassName Msvm_VirtualSystemSettingData
        $r2 = Invoke-CimMethod -InputObject $svc -MethodName ConvertToReferencePoint -Arguments @{ AffectedSnapshot = $snap }
        $rct = (Get-CimAssociatedInstance -InputObject $r2.Job -ResultClassName Msvm_VirtualSystemReferencePoint).ResilientChangeTrackingIdentifiers[0]
        $ims = Get-CimInstance -Namespace $ns -ClassName Msvm_ImageManagementService
        $args_ = @{ Path = $disk; LimitId = $rct; ByteOffset = [uint64]0; ByteLength = [uint64]1MB }
        (Invoke-CimMethod -InputObject $ims -MethodName GetVirtualDiskChanges -Arguments $args_).ReturnValue | Should -Be 0
        foreach ($target in @('', $rct)) {
            $with = $args_.Clone(); $with.TargetSnapshotId = $target
            (Invoke-CimMethod -InputObject $ims -MethodName GetVirtualDiskChanges -Arguments $with).ReturnValue | Should -Be 32773
        }
    }
}

Describe 'ps/ freeze and export judged by the strict mock' {
    It 'takes an application-consistent view (GuestBackupType Copy as uint8) and exports the configuration' {
        # Export first: it is refused while a view is open, and the view is left to the VM's end.
        $id = New-TestVmWithDisk -Name 'good' -State 'Running'
        $e = Invoke-ScriptIn $global:CimPsDir 'Export-MirrorVmConfig' @{ VmId = $id; DestDir = (Join-Path $global:CimTestDir 'exp-good'); TimeoutMs = 30000 }
        $e.Ok | Should -BeTrue
        @($e.Result.Files) | Should -Be @("Virtual Machines/$(([string]$id).ToUpperInvariant()).vmcx")
        $v = Invoke-ScriptIn $global:CimPsDir 'New-MirrorFrozenView' @{ VmId = $id; TimeoutMs = 30000 }
        $v.Ok | Should -BeTrue
        $v.Result.Consistency | Should -Be 'Application'
        $v.Result.FallbackReason | Should -BeNullOrEmpty
        $vm = @((Get-MockState).Vms | Where-Object { $_.Id -eq $id })[0]
        $vm.Snapshots[0].GuestBackupType | Should -Be '2'
    }

    It 'fails the freeze and the export when ConvertTo-MirrorCimXml writes <Mutation>' -ForEach @(
        @{ Mutation = 'a wrong type name (uint16 for every uint8)'; Reason = '*TYPE uint16, but * declares uint8*'
            From = '.Append([string]$p.Type)'; To = '.Append(([string]$p.Type).Replace(''uint8'', ''uint16''))' }
        @{ Mutation = 'misspelled properties'; Reason = '*has no such property*'
            From = '.Append([System.Security.SecurityElement]::Escape([string]$p.Name))'; To = '.Append([System.Security.SecurityElement]::Escape(([string]$p.Name).Replace(''Level'', ''Levl'').Replace(''Storage'', ''Storag'')))' }
    ) {
        $dir = New-MutatedPs -From $From -To $To
        $id = $global:JudgedVmId
        $v = Invoke-ScriptIn $dir 'New-MirrorFrozenView' @{ VmId = $id; TimeoutMs = 30000 }
        $v.Ok | Should -BeFalse
        $v.Error.Code | Should -Be 'HYPERVISOR_ERROR'
        $v.Error.Message | Should -BeLike '*CreateSnapshot failed: ReturnValue 32773*'
        (Get-LastRefusal).Reason | Should -BeLike $Reason
        $e = Invoke-ScriptIn $dir 'Export-MirrorVmConfig' @{ VmId = $id; DestDir = (Join-Path $global:CimTestDir ('exp-' + [guid]::NewGuid().ToString('N'))); TimeoutMs = 30000 }
        $e.Ok | Should -BeFalse
        $e.Error.Message | Should -BeLike '*ExportSystemDefinition failed: ReturnValue 32773*'
        (Get-LastRefusal).Reason | Should -BeLike $Reason
    }

    It 'falls back to a crash-consistent view when GuestBackupType is sent as uint16 (the defect the strict mock found)' {
        $dir = New-MutatedPs -From "Name = 'GuestBackupType'; Type = 'uint8'" -To "Name = 'GuestBackupType'; Type = 'uint16'"
        $id = New-TestVmWithDisk -Name 'old-bug' -State 'Running'
        $v = Invoke-ScriptIn $dir 'New-MirrorFrozenView' @{ VmId = $id; TimeoutMs = 30000 }
        $v.Ok | Should -BeTrue
        $v.Result.Consistency | Should -Be 'Crash'
        $v.Result.FallbackReason | Should -BeLike '*ReturnValue 32773*'
        (Get-LastRefusal).Reason | Should -BeLike '*GuestBackupType: TYPE uint16, but * declares uint8*'
    }
}
