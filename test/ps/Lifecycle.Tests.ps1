BeforeAll { . (Join-Path $PSScriptRoot 'Common.ps1') }

Describe 'Start-MirrorVm and Stop-MirrorVm' {
    BeforeEach {
        Mock Get-VMHardDiskDrive { }
        Mock Get-VMNetworkAdapter { }
        Mock Start-VM { }
        Mock Stop-VM { }
    }

    It 'does not call Stop-VM on a VM that is already Off' {
        Mock Get-VM { New-FakeVm -State 'Off' }
        $r = Invoke-DriverScript 'Stop-MirrorVm' @{ VmId = (Get-TestVmGuid).ToString(); Mode = 'Shutdown'; TimeoutMs = 2000 }
        $r.Ok | Should -BeFalse
        $r.Error.Code | Should -Be 'VM_WRONG_STATE'
        $r.Error.Details.State | Should -Be 'Off'
        Should -Invoke Stop-VM -Times 0 -Exactly
    }

    It 'does not call Start-VM on a VM that runs' {
        Mock Get-VM { New-FakeVm -State 'Running' -Heartbeat 'OkApplicationsHealthy' }
        $r = Invoke-DriverScript 'Start-MirrorVm' @{ VmId = (Get-TestVmGuid).ToString(); TimeoutMs = 2000; WaitHeartbeat = $true }
        $r.Error.Code | Should -Be 'VM_WRONG_STATE'
        Should -Invoke Start-VM -Times 0 -Exactly
    }

    It 'shuts down with -Force (no prompt) and waits through Stopping for Off' {
        $global:MirrorTestPolls = 0
        Mock Get-VM {
            $global:MirrorTestPolls++
            if ($global:MirrorTestPolls -le 1) { New-FakeVm -State 'Running' -Heartbeat 'OkApplicationsHealthy' }
            elseif ($global:MirrorTestPolls -le 3) { New-FakeVm -State 'Stopping' }
            else { New-FakeVm -State 'Off' }
        }
        $r = Invoke-DriverScript 'Stop-MirrorVm' @{ VmId = (Get-TestVmGuid).ToString(); Mode = 'Shutdown'; TimeoutMs = 5000 }
        $r.Ok | Should -BeTrue
        $r.Result.State | Should -Be 'Off'
        Should -Invoke Stop-VM -Times 1 -Exactly -ParameterFilter { $Force -and -not $TurnOff -and -not $Save }
        $global:MirrorTestPolls | Should -BeGreaterOrEqual 4
    }

    It 'waits past Running until the heartbeat is Ok, and reports enums by name, never by number' {
        $global:MirrorTestPolls = 0
        Mock Get-VM {
            $global:MirrorTestPolls++
            if ($global:MirrorTestPolls -le 1) { New-FakeVm -State 'Off' }
            elseif ($global:MirrorTestPolls -le 2) { New-FakeVm -State 'Starting' }
            elseif ($global:MirrorTestPolls -le 4) { New-FakeVm -State 'Running' -Heartbeat 'NoContact' }
            else { New-FakeVm -State 'Running' -Heartbeat 'OkApplicationsHealthy' }
        }
        $r = Invoke-DriverScript 'Start-MirrorVm' @{ VmId = (Get-TestVmGuid).ToString(); TimeoutMs = 5000; WaitHeartbeat = $true }
        $r.Result.State | Should -Be 'Running'
        $r.Result.Heartbeat | Should -Be 'OkApplicationsHealthy'
        [int][MockHyperV.VMState]::Running | Should -Not -Be 2
        Should -Invoke Start-VM -Times 1 -Exactly
    }

    It 'gives VM_TIMEOUT when the state never arrives' {
        Mock Get-VM { New-FakeVm -State 'Stopping' }
        Mock Get-VM { New-FakeVm -State 'Running' -Heartbeat 'OkApplicationsHealthy' } -ParameterFilter { $global:MirrorTestFirst -ne $true }
        $global:MirrorTestFirst = $false
        Mock Stop-VM { $global:MirrorTestFirst = $true }
        $r = Invoke-DriverScript 'Stop-MirrorVm' @{ VmId = (Get-TestVmGuid).ToString(); Mode = 'TurnOff'; TimeoutMs = 400 }
        $r.Error.Code | Should -Be 'VM_TIMEOUT'
    }

    It 'ends the wait with the Hyper-V job''s own error when the stop job fails' {
        Mock Get-VM { New-FakeVm -State 'Running' -Heartbeat 'OkApplicationsHealthy' }
        Mock Stop-VM { Start-ThreadJob -ScriptBlock { throw 'guest refused to stop' } }
        $r = Invoke-DriverScript 'Stop-MirrorVm' @{ VmId = (Get-TestVmGuid).ToString(); Mode = 'Shutdown'; TimeoutMs = 10000 }
        $r.Error.Code | Should -Be 'HYPERVISOR_ERROR'
        $r.Error.PlatformMessage | Should -Match 'guest refused to stop'
        Should -Invoke Stop-VM -Times 1 -Exactly -ParameterFilter { $AsJob }
    }

    It 'turns an unknown id into VM_NOT_FOUND after checking the full list' {
        Mock Get-VM { } -ParameterFilter { $null -ne $Id }
        Mock Get-VM { New-FakeVm -State 'Off' | ForEach-Object { $_.Id = [guid]::NewGuid(); $_ } } -ParameterFilter { $null -eq $Id }
        $r = Invoke-DriverScript 'Stop-MirrorVm' @{ VmId = (Get-TestVmGuid).ToString(); Mode = 'TurnOff'; TimeoutMs = 400 }
        $r.Error.Code | Should -Be 'VM_NOT_FOUND'
        Should -Invoke Stop-VM -Times 0 -Exactly
    }

    It 'reports a non-GUID id as an error without calling Get-VM' {
        Mock Get-VM { throw 'must not be called' }
        $r = Invoke-DriverScript 'Stop-MirrorVm' @{ VmId = "x'; Remove-Item"; Mode = 'TurnOff'; TimeoutMs = 400 }
        $r.Error.Code | Should -Be 'HYPERVISOR_ERROR'
        Should -Invoke Get-VM -Times 0 -Exactly
    }
}

Describe 'Get-MirrorVm' {
    BeforeEach {
        Mock Get-VMHardDiskDrive { }
        Mock Get-VMNetworkAdapter { }
    }

    It 'matches names exactly after listing, never through Get-VM -Name (wildcards)' {
        Mock Get-VM {
            foreach ($n in @('web1', 'web10', 'WEB1', 'web[1]', 'web1')) { New-FakeVm -Name $n | ForEach-Object { $_.Id = [guid]::NewGuid(); $_ } }
        }
        $r = Invoke-DriverScript 'Get-MirrorVm' @{ Name = 'web1' }
        @($r.Result.Vms).Count | Should -Be 2
        @($r.Result.Vms | ForEach-Object { $_.Name }) | Should -Be @('web1', 'web1')
        $one = Invoke-DriverScript 'Get-MirrorVm' @{ Name = 'web[1]' }
        @($one.Result.Vms).Count | Should -Be 1
        Should -Invoke Get-VM -Times 0 -Exactly -ParameterFilter { $PSBoundParameters.ContainsKey('Name') }
    }

    It 'keeps a single VM as a one-element array' {
        Mock Get-VM { New-FakeVm -Name 'only' }
        $line = & (Join-Path $script:PsDir 'Get-MirrorVm.ps1') -InputBase64 ([Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes('{}')))
        $line | Should -Match '"Vms":\[\{'
        $line | Should -Match '"Disks":\[\]'
    }

    It 'says VM_AMBIGUOUS when a single VM is asked for and the name is shared' {
        Mock Get-VM { 1..2 | ForEach-Object { New-FakeVm -Name 'dup' | ForEach-Object { $_.Id = [guid]::NewGuid(); $_ } } }
        $r = Invoke-DriverScript 'Get-MirrorVm' @{ Name = 'dup'; Single = $true }
        $r.Error.Code | Should -Be 'VM_AMBIGUOUS'
        @($r.Error.Details.Ids).Count | Should -Be 2
    }
}
