BeforeAll { . (Join-Path $PSScriptRoot 'Common.ps1') }

Describe 'Get-MirrorDiskChange' {
    BeforeEach {
        Mock Get-CimInstance { [pscustomobject]@{ MockClass = 'Msvm_ImageManagementService' } }
    }

    It 'loops on ProcessedByteLength until the whole disk is covered' {
        Mock Invoke-CimMethod {
            $off = [uint64]$Arguments.ByteOffset
            [pscustomobject]@{ ReturnValue = 0; ProcessedByteLength = [uint64]1048576
                ChangedByteOffsets = [uint64[]]@($off + 512); ChangedByteLengths = [uint64[]]@(1024) }
        }
        $r = Invoke-DriverScript 'Get-MirrorDiskChange' @{ VmId = (Get-TestVmGuid).ToString(); TimeoutMs = 5000
            Disks = @(@{ BasePath = 'b.vhdx'; ReadPath = 'b.vhdx'; SizeBytes = 3145728; RctId = 'rctX:1' }) }
        $r.Ok | Should -BeTrue
        @($r.Result.Disks[0].Ranges | ForEach-Object { $_.Offset }) | Should -Be @(512, 1049088, 2097664)
        Should -Invoke Invoke-CimMethod -Times 3 -Exactly
        Should -Invoke Invoke-CimMethod -Times 1 -Exactly -ParameterFilter { $Arguments.ByteOffset -eq 2097152 -and $Arguments.ByteLength -eq 1048576 -and $Arguments.LimitId -eq 'rctX:1' }
    }

    It 'stops with RCT_UNAVAILABLE when an answer makes no progress (never loops forever, never says nothing changed)' {
        Mock Invoke-CimMethod { [pscustomobject]@{ ReturnValue = 0; ProcessedByteLength = [uint64]0; ChangedByteOffsets = $null; ChangedByteLengths = $null } }
        $r = Invoke-DriverScript 'Get-MirrorDiskChange' @{ VmId = (Get-TestVmGuid).ToString(); TimeoutMs = 5000
            Disks = @(@{ BasePath = 'b.vhdx'; ReadPath = 'b.vhdx'; SizeBytes = 3145728; RctId = 'rctX:1' }) }
        $r.Error.Code | Should -Be 'RCT_UNAVAILABLE'
        Should -Invoke Invoke-CimMethod -Times 1 -Exactly
    }

    It 'turns a WMI failure code into RCT_UNAVAILABLE' {
        Mock Invoke-CimMethod { [pscustomobject]@{ ReturnValue = 32775 } }
        $r = Invoke-DriverScript 'Get-MirrorDiskChange' @{ VmId = (Get-TestVmGuid).ToString(); TimeoutMs = 5000
            Disks = @(@{ BasePath = 'b.vhdx'; ReadPath = 'b.vhdx'; SizeBytes = 1048576; RctId = 'rctX:1' }) }
        $r.Error.Code | Should -Be 'RCT_UNAVAILABLE'
        $r.Error.Details.PlatformMessage | Should -Match '32775'
    }
}

Describe 'New-MirrorFrozenView' {
    It 'refuses a VM that already has a checkpoint, without creating another' {
        Mock Get-VM { New-FakeVm -State 'Running' -Heartbeat 'OkApplicationsHealthy' }
        Mock Get-VMNetworkAdapter { }
        Mock Get-VMHardDiskDrive { [pscustomobject]@{ Path = '/d/x_ABC.avhdx'; ControllerType = [MockHyperV.ControllerType]::SCSI; ControllerNumber = 0; ControllerLocation = 0 } }
        Mock Get-VHD {
            if ($Path -like '*.avhdx') { [pscustomobject]@{ Path = $Path; ParentPath = '/d/x.vhdx'; VhdFormat = [MockHyperV.VhdFormat]::VHDX; VhdType = [MockHyperV.VhdType]::Differencing; Size = 1MB; FileSize = 1MB } }
            else { [pscustomobject]@{ Path = $Path; ParentPath = ''; VhdFormat = [MockHyperV.VhdFormat]::VHDX; VhdType = [MockHyperV.VhdType]::Fixed; Size = 1MB; FileSize = 1MB } }
        }
        Mock Invoke-CimMethod { throw 'must not be called' }
        $r = Invoke-DriverScript 'New-MirrorFrozenView' @{ VmId = (Get-TestVmGuid).ToString(); TimeoutMs = 2000 }
        $r.Error.Code | Should -Be 'VM_WRONG_STATE'
        Should -Invoke Invoke-CimMethod -Times 0 -Exactly
    }
}

Describe 'Register-MirrorReplicaVm and Set-MirrorStaticMac' {
    It 'reports a missing switch as VM_INCOMPATIBLE and never imports' {
        $dir = Join-Path ([IO.Path]::GetTempPath()) ("pester-" + [guid]::NewGuid())
        New-Item -ItemType Directory -Path (Join-Path $dir 'Virtual Machines') | Out-Null
        Set-Content -LiteralPath (Join-Path $dir "Virtual Machines/$((Get-TestVmGuid)).vmcx") -Value 'x'
        try {
            $report = [pscustomobject]@{ VM = (New-FakeVm); Incompatibilities = @([pscustomobject]@{ Message = "Could not find Ethernet switch 'DMZ'."; MessageId = 33012 }) }
            Mock Get-VM { }
            Mock Compare-VM { $report }
            Mock Get-VMHardDiskDrive { [pscustomobject]@{ Path = '/a.vhdx'; ControllerType = [MockHyperV.ControllerType]::SCSI; ControllerNumber = 0; ControllerLocation = 0 } }
            Mock Set-VMHardDiskDrive { }
            Mock Import-VM { throw 'must not be called' }
            $r = Invoke-DriverScript 'Register-MirrorReplicaVm' @{ ConfigDir = $dir; DiskPaths = @('/replica/a.vhdx'); TimeoutMs = 2000 }
            $r.Error.Code | Should -Be 'VM_INCOMPATIBLE'
            $r.Error.Details.Issues[0].Kind | Should -Be 'MissingSwitch'
            $r.Error.Details.Issues[0].Message | Should -Match 'DMZ'
            Should -Invoke Import-VM -Times 0 -Exactly
            Should -Invoke Set-VMHardDiskDrive -Times 1 -Exactly -ParameterFilter { $Path -eq '/replica/a.vhdx' }
        } finally {
            Remove-Item -LiteralPath $dir -Recurse -Force
        }
    }

    It 'does not touch the adapter of a running VM whose MAC would change' {
        Mock Get-VM { New-FakeVm -State 'Running' -Heartbeat 'OkApplicationsHealthy' }
        Mock Get-VMNetworkAdapter { [pscustomobject]@{ Name = 'nic'; MacAddress = '00155D010203'; DynamicMacAddressEnabled = $true; SwitchName = 'LAN' } }
        Mock Set-VMNetworkAdapter { }
        $r = Invoke-DriverScript 'Set-MirrorStaticMac' @{ VmId = (Get-TestVmGuid).ToString() }
        $r.Error.Code | Should -Be 'VM_WRONG_STATE'
        Should -Invoke Set-VMNetworkAdapter -Times 0 -Exactly
    }
}

Describe 'MirrorCommon helpers' {
    BeforeAll { . (Join-Path $script:PsDir 'Private/MirrorCommon.ps1') }

    It 'writes ASCII-only JSON that round-trips any text' {
        $text = "x'; ‘’ – — ünï 名前 🚀 `"q`" \ `n"
        $json = ConvertTo-MirrorAsciiJson -InputObject @{ T = $text }
        $json | Should -Match '^[\x20-\x7E]+$'
        (ConvertFrom-Json -InputObject $json).T | Should -BeExactly $text
    }

    It 'turns a platform exception into HYPERVISOR_ERROR with its message' {
        try { throw (New-Object System.IO.IOException 'disk on fire') } catch { $line = Write-MirrorError -ErrorRecord $_ }
        $e = (ConvertFrom-Json -InputObject $line).Error
        $e.Code | Should -Be 'HYPERVISOR_ERROR'
        $e.PlatformMessage | Should -Be 'disk on fire'
    }
}
