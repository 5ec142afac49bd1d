# Issue 12 items 2, 9 and 12: WMI jobs that complete with warnings are success; the change query
# has a deadline of its own that ends in RCT_UNAVAILABLE; TargetSnapshotId is never sent.
BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    . (Join-Path $PSScriptRoot '../../ps/Private/MirrorCommon.ps1')

    function New-ChangeInput {
        param([long]$SizeBytes, [int]$TimeoutMs)
        @{ VmId = (Get-TestVmGuid).ToString(); TimeoutMs = $TimeoutMs
            Disks = @(@{ BasePath = 'b.vhdx'; ReadPath = 'b.vhdx'; SizeBytes = $SizeBytes; RctId = 'rctX:1' }) }
    }
}

Describe 'Wait-MirrorCimJob' {
    BeforeEach {
        $script:Started = [pscustomobject]@{ ReturnValue = 4096; Job = [pscustomobject]@{ InstanceID = 'job1' } }
    }

    It 'returns the job when it completes with warnings (JobState 32768)' {
        Mock Get-CimInstance { [pscustomobject]@{ InstanceID = 'job1'; JobState = [uint16]32768; ErrorCode = 0; ErrorDescription = 'VSS writer warning' } }
        $job = Wait-MirrorCimJob -Result $script:Started -Deadline ([DateTime]::UtcNow.AddSeconds(10)) -What 'CreateSnapshot'
        [int]$job.JobState | Should -Be 32768
    }

    It 'returns the job when it completes (JobState 7) after running (4)' {
        $global:JobPolls = 0
        Mock Get-CimInstance { $global:JobPolls++; $s = 4; if ($global:JobPolls -ge 2) { $s = 7 }; [pscustomobject]@{ InstanceID = 'job1'; JobState = [uint16]$s; ErrorCode = 0; ErrorDescription = '' } }
        [int](Wait-MirrorCimJob -Result $script:Started -Deadline ([DateTime]::UtcNow.AddSeconds(10))).JobState | Should -Be 7
    }

    It 'fails with the given code for Terminated (8), Killed (9) and Exception (10)' {
        foreach ($state in @(8, 9, 10)) {
            $global:FailState = $state
            Mock Get-CimInstance { [pscustomobject]@{ InstanceID = 'job1'; JobState = [uint16]$global:FailState; ErrorCode = 32768; ErrorDescription = 'failed' } }
            $err = $null
            try { Wait-MirrorCimJob -Result $script:Started -Deadline ([DateTime]::UtcNow.AddSeconds(10)) -FailCode 'RCT_UNAVAILABLE' } catch { $err = $_ }
            $err | Should -Not -BeNullOrEmpty
            $err.Exception.Data['MirrorCode'] | Should -Be 'RCT_UNAVAILABLE'
            $err.Exception.Data['MirrorDetails'].JobState | Should -Be $state
        }
    }
}

Describe 'Get-MirrorDiskChange deadline and arguments' {
    BeforeEach {
        Mock Get-CimInstance { [pscustomobject]@{ MockClass = 'Msvm_ImageManagementService' } }
    }

    It 'never sends TargetSnapshotId (documented for VHD Sets only) and bounds each call by the time left' {
        Mock Invoke-CimMethod { [pscustomobject]@{ ReturnValue = 0; ProcessedByteLength = [uint64]1048576; ChangedByteOffsets = $null; ChangedByteLengths = $null } }
        $r = Invoke-DriverScript 'Get-MirrorDiskChange' (New-ChangeInput -SizeBytes 2097152 -TimeoutMs 30000)
        $r.Ok | Should -BeTrue
        Should -Invoke Invoke-CimMethod -Times 2 -Exactly
        Should -Invoke Invoke-CimMethod -Times 0 -ParameterFilter { $Arguments.ContainsKey('TargetSnapshotId') }
        Should -Invoke Invoke-CimMethod -Times 2 -Exactly -ParameterFilter { $OperationTimeoutSec -ge 1 -and $OperationTimeoutSec -le 30 }
    }

    It 'ends a slow query at its own deadline with RCT_UNAVAILABLE instead of running into the runner''s timeout' {
        # 64 chunks of 1 MiB, each answer taking 250 ms: 16 s of work against a 1 s deadline. Slower
        # machines only reach the deadline sooner, so this cannot pass by luck.
        $global:ChangeCalls = 0
        Mock Invoke-CimMethod {
            $global:ChangeCalls++
            Start-Sleep -Milliseconds 250
            [pscustomobject]@{ ReturnValue = 0; ProcessedByteLength = [uint64]1048576; ChangedByteOffsets = $null; ChangedByteLengths = $null }
        }
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $r = Invoke-DriverScript 'Get-MirrorDiskChange' (New-ChangeInput -SizeBytes 67108864 -TimeoutMs 1000)
        $r.Ok | Should -BeFalse
        $r.Error.Code | Should -Be 'RCT_UNAVAILABLE'
        $r.Error.Message | Should -BeLike '*deadline*'
        $global:ChangeCalls | Should -BeLessThan 64
        $watch.ElapsedMilliseconds | Should -BeLessThan 15000
    }
}
