BeforeAll {
    function Complete-TestTransition {
        # Ends a VM's pending Starting/Stopping transition, and its wait for a heartbeat, now (as if their time had come).
        param([string]$Id)
        $st = Get-MockState
        foreach ($v in @($st.Vms)) {
            if ([string]$v.Id -ne $Id) { continue }
            if ($v.Transition) { $v.Transition.At = 0 }
            if ($null -ne $v.HeartbeatAt) { $v.HeartbeatAt = 0 }
        }
        Save-MockState $st
    }
    Import-Module (Join-Path $PSScriptRoot '../hypervisor/mock-hyperv/Hyper-V.psd1') -DisableNameChecking -Force
    $global:MockTestDir = Join-Path ([IO.Path]::GetTempPath()) ('mockhv-' + [guid]::NewGuid())
    Set-MockHyperVState -Path $global:MockTestDir
    Set-MockHost -Settings @{ StartMs = 150; StopMs = 150; RctChunkBytes = 65536 }
}
AfterAll { Remove-Item -LiteralPath $global:MockTestDir -Recurse -Force -ErrorAction SilentlyContinue }

Describe 'MockHyperV fidelity' {
    It 'refuses an export while a recovery snapshot exists (32775), and a WQL literal with an unescaped backslash' {
        $id = New-MockVm -Name 'export-lock' -State 'Running' -Disks @(@{ Path = (Join-Path $global:MockTestDir 'd/lock.vhdx'); SizeBytes = 1MB })
        $ns = 'root\virtualization\v2'
        $svc = Get-CimInstance -Namespace $ns -ClassName Msvm_VirtualSystemSnapshotService
        $vsms = Get-CimInstance -Namespace $ns -ClassName Msvm_VirtualSystemManagementService
        $cs = Get-CimInstance -Namespace $ns -ClassName Msvm_ComputerSystem -Filter "Name='$id'"
        $export = '<INSTANCE CLASSNAME="Msvm_VirtualSystemExportSettingData"><PROPERTY NAME="CopyVmStorage" TYPE="boolean"><VALUE>FALSE</VALUE></PROPERTY></INSTANCE>'
        $settings = '<INSTANCE CLASSNAME="Msvm_VirtualSystemSnapshotSettingData"><PROPERTY NAME="ConsistencyLevel" TYPE="uint8"><VALUE>2</VALUE></PROPERTY></INSTANCE>'
        $r = Invoke-CimMethod -InputObject $svc -MethodName CreateSnapshot -Arguments @{ AffectedSystem = $cs; SnapshotSettings = $settings; SnapshotType = [uint16]32768 }
        $e = Invoke-CimMethod -InputObject $vsms -MethodName ExportSystemDefinition -Arguments @{ ComputerSystem = $cs; ExportDirectory = (Join-Path $global:MockTestDir 'exp'); ExportSettingData = $export }
        $e.ReturnValue | Should -Be 32775
        (Get-MockState).Host.ExportsDuringView | Should -Be 1
        $snap = Get-CimAssociatedInstance -InputObject $r.Job -ResultClassName Msvm_VirtualSystemSettingData
        $sasd = @(Get-CimAssociatedInstance -InputObject $snap -ResultClassName Msvm_StorageAllocationSettingData)[0]
        $sasd.InstanceID | Should -Match '^Microsoft:[0-9A-F-]{36}\\[0-9A-F-]{36}\\0\\0\\L$'
        { Get-CimInstance -Namespace $ns -ClassName Msvm_StorageAllocationSettingData -Filter ("InstanceID='" + $sasd.InstanceID + "'") } | Should -Throw '*not a WQL escape*'
    }

    It 'treats Get-VM -Name as a wildcard pattern and allows duplicate names' {
        $a = New-MockVm -Name 'web1'
        $b = New-MockVm -Name 'web1'
        $c = New-MockVm -Name 'web[1]'
        @(Get-VM -Name 'web1').Count | Should -Be 2
        @(Get-VM -Name 'web[1]' | ForEach-Object { $_.Id.ToString() }) | Should -Not -Contain $c
        @(Get-VM -Name 'web*').Count | Should -Be 3
    }

    It 'returns enums whose numbers are not Hyper-V''s, so only ToString is right' {
        $id = New-MockVm -Name 'enum'
        $vm = Get-VM -Id $id
        $vm.State.ToString() | Should -Be 'Off'
        [int]$vm.State | Should -Not -Be 3
        [int][MockHyperV.VMState]::Running | Should -Not -Be 2
    }

    It 'passes through Starting and Stopping, and refuses start when running and stop when Off' {
        # Transitions last a minute here, and the test ends each one itself: the intermediate
        # states are asserted whatever the machine's load, with no sleep racing the clock.
        Set-MockHost -Settings @{ StartMs = 60000; StopMs = 60000 }
        try {
            $id = New-MockVm -Name 'life' -HeartbeatDelayMs 0
            { Stop-VM -VM (Get-VM -Id $id) -Force } | Should -Throw '*current state*'
            $job = Start-VM -VM (Get-VM -Id $id) -AsJob
            (Get-VM -Id $id).State.ToString() | Should -Be 'Starting'
            $job.State.ToString() | Should -BeIn @('NotStarted', 'Running')
            { Start-VM -VM (Get-VM -Id $id) } | Should -Throw '*current state*'
            Remove-Job -Job $job -Force
            Complete-TestTransition -Id $id
            (Get-VM -Id $id).State.ToString() | Should -Be 'Running'
            { Stop-VM -VM (Get-VM -Id $id) } | Should -Throw '*-Force*'
            $job = Stop-VM -VM (Get-VM -Id $id) -Force -AsJob
            (Get-VM -Id $id).State.ToString() | Should -Be 'Stopping'
            Remove-Job -Job $job -Force
            Complete-TestTransition -Id $id
            (Get-VM -Id $id).State.ToString() | Should -Be 'Off'
        } finally {
            Set-MockHost -Settings @{ StartMs = 150; StopMs = 150 }
        }
    }

    It 'blocks Start-VM and Stop-VM until the transition ends, as Hyper-V does without -AsJob' {
        $id = New-MockVm -Name 'blocking' -HeartbeatDelayMs 0
        Start-VM -VM (Get-VM -Id $id)
        (Get-VM -Id $id).State.ToString() | Should -Be 'Running'
        Stop-VM -VM (Get-VM -Id $id) -Force
        (Get-VM -Id $id).State.ToString() | Should -Be 'Off'
    }

    It 'reports a refused operation through the job when run -AsJob' {
        $id = New-MockVm -Name 'refused'
        $job = Stop-VM -VM (Get-VM -Id $id) -Force -AsJob
        { Receive-Job -Job $job -Wait -ErrorAction Stop } | Should -Throw '*current state*'
    }

    It 'throws StubNotImplemented for Hyper-V cmdlets it does not implement' {
        { Checkpoint-VM -Name x } | Should -Throw '*StubNotImplemented*'
        { Export-VM -Name x -Path '/nowhere' } | Should -Throw '*StubNotImplemented*'
        { New-CimInstance } | Should -Throw '*StubNotImplemented*'
        { Get-CimInstance -Namespace 'root\virtualization\v2' -ClassName Msvm_Unknown } | Should -Throw '*StubNotImplemented*'
    }

    It 'keeps the base disk unchanged during a checkpoint and answers RCT in partial chunks' {
        $disk = Join-Path $global:MockTestDir 'd/rct.vhdx'
        $id = New-MockVm -Name 'rct' -State 'Running' -Disks @(@{ Path = $disk; SizeBytes = 1MB })
        $ns = 'root\virtualization\v2'
        $svc = Get-CimInstance -Namespace $ns -ClassName Msvm_VirtualSystemSnapshotService
        $cs = Get-CimInstance -Namespace $ns -ClassName Msvm_ComputerSystem -Filter "Name='$id'"
        $settings = '<INSTANCE CLASSNAME="Msvm_VirtualSystemSnapshotSettingData"><PROPERTY NAME="ConsistencyLevel" TYPE="uint8"><VALUE>2</VALUE></PROPERTY></INSTANCE>'
        $r = Invoke-CimMethod -InputObject $svc -MethodName CreateSnapshot -Arguments @{ AffectedSystem = $cs; SnapshotSettings = $settings; SnapshotType = [uint16]32768 }
        $r.ReturnValue | Should -Be 4096
        (Get-CimInstance -InputObject $r.Job).JobState | Should -Be 4
        $snap = Get-CimAssociatedInstance -InputObject $r.Job -ResultClassName Msvm_VirtualSystemSettingData
        (Get-VMHardDiskDrive -VM (Get-VM -Id $id)).Path | Should -BeLike '*.avhdx'
        $before = (Get-FileHash -LiteralPath $disk).Hash
        Write-MockGuestData -VmId $id -Offset 4096 -Length 512 -Pattern 9 | Should -Be 'overlay'
        (Get-FileHash -LiteralPath $disk).Hash | Should -Be $before
        $r2 = Invoke-CimMethod -InputObject $svc -MethodName ConvertToReferencePoint -Arguments @{ AffectedSnapshot = $snap }
        $rp = Get-CimAssociatedInstance -InputObject $r2.Job -ResultClassName Msvm_VirtualSystemReferencePoint
        (Get-FileHash -LiteralPath $disk).Hash | Should -Not -Be $before
        $ims = Get-CimInstance -Namespace $ns -ClassName Msvm_ImageManagementService
        $c = Invoke-CimMethod -InputObject $ims -MethodName GetVirtualDiskChanges -Arguments @{ Path = $disk; LimitId = $rp.ResilientChangeTrackingIdentifiers[0]; ByteOffset = [uint64]0; ByteLength = [uint64]1MB }
        $c.ReturnValue | Should -Be 0
        $c.ProcessedByteLength | Should -Be 65536
        @($c.ChangedByteOffsets) | Should -Be @(4096)
        @($c.ChangedByteLengths) | Should -Be @(512)
        $bad = Invoke-CimMethod -InputObject $ims -MethodName GetVirtualDiskChanges -Arguments @{ Path = $disk; LimitId = 'rctX:nope:1'; ByteOffset = [uint64]0; ByteLength = [uint64]1MB }
        $bad.ReturnValue | Should -Not -Be 0
    }
}
