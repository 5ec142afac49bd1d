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

Describe 'Remove-MirrorFrozenView pairs RCT ids with disks by the SASD they name' {
    It 'looks each VirtualDiskIdentifier up by its WQL-escaped InstanceID, matches HostResource[0] without case, never by order, and hands back an id it cannot pair' {
        $idA = "Microsoft:AAAA\DEV'A\0\0\L"
        $idB = 'Microsoft:AAAA\DEVB\0\1\L'
        $global:MirrorTestFilters = New-Object System.Collections.ArrayList
        $snap = [pscustomobject]@{ InstanceID = 'Microsoft:SNAP'; VirtualSystemIdentifier = (Get-TestVmGuid).ToString() }
        $rp = [pscustomobject]@{ MockClass = 'RP'; VirtualDiskIdentifiers = @($idB, $idA); ResilientChangeTrackingIdentifiers = @('rct-b', 'rct-a') }
        Mock Get-VM { New-FakeVm -State 'Running' -Heartbeat 'OkApplicationsHealthy' }
        Mock Get-VMNetworkAdapter { }
        Mock Get-VMHardDiskDrive { foreach ($p in @('/d/a.vhdx', '/d/b.vhdx')) { [pscustomobject]@{ Path = $p; ControllerType = [MockHyperV.ControllerType]::SCSI; ControllerNumber = 0; ControllerLocation = 0 } } }
        Mock Get-VHD { [pscustomobject]@{ Path = $Path; ParentPath = ''; VhdFormat = [MockHyperV.VhdFormat]::VHDX; VhdType = [MockHyperV.VhdType]::Dynamic; Size = 1MB; FileSize = 1MB } }
        Mock Get-CimInstance { $snap } -ParameterFilter { $ClassName -eq 'Msvm_VirtualSystemSettingData' }
        Mock Get-CimInstance { [pscustomobject]@{ Name = 'svc' } } -ParameterFilter { $ClassName -eq 'Msvm_VirtualSystemSnapshotService' }
        Mock Get-CimInstance { $InputObject } -ParameterFilter { $null -ne $InputObject }
        Mock Get-CimInstance {
            [void]$global:MirrorTestFilters.Add($Filter)
            # Only the escaped form finds A; B's lookup fails as WMI does on a bad query.
            if ($Filter -eq "InstanceID='Microsoft:AAAA\\DEV\'A\\0\\0\\L'") { return [pscustomobject]@{ InstanceID = $idA; HostResource = @('/D/A.VHDX') } }
            throw 'Invalid query'
        } -ParameterFilter { $ClassName -eq 'Msvm_StorageAllocationSettingData' }
        Mock Invoke-CimMethod { [pscustomobject]@{ ReturnValue = 0; ResultingReferencePoint = $rp } }
        $r = Invoke-DriverScript 'Remove-MirrorFrozenView' @{ VmId = (Get-TestVmGuid).ToString(); ViewId = 'Microsoft:SNAP'; Commit = $true; TimeoutMs = 5000 }
        $r.Ok | Should -BeTrue
        @($r.Result.References).Count | Should -Be 1
        $r.Result.References[0].BasePath | Should -Be '/d/a.vhdx'
        $r.Result.References[0].RctId | Should -Be 'rct-a'
        @($r.Result.UnmatchedRctIds) | Should -Be @('rct-b')
        @($global:MirrorTestFilters) | Should -Contain "InstanceID='Microsoft:AAAA\\DEVB\\0\\1\\L'"
        Should -Invoke Invoke-CimMethod -Times 1 -Exactly -ParameterFilter { $MethodName -eq 'ConvertToReferencePoint' }
    }
}

Describe 'ConvertTo-MirrorCimXml' {
    It 'escapes every value and spells booleans as CIM-XML does' {
        . (Join-Path $script:PsDir 'Private/MirrorCommon.ps1')
        . (Join-Path $script:PsDir 'Private/MirrorCim.ps1')
        $x = ConvertTo-MirrorCimXml -ClassName 'C' -Properties @(@{ Name = 'S'; Type = 'string'; Value = '<a & "b">' }, @{ Name = 'B'; Type = 'boolean'; Value = $false })
        $x | Should -Be '<INSTANCE CLASSNAME="C"><PROPERTY NAME="S" TYPE="string"><VALUE>&lt;a &amp; &quot;b&quot;&gt;</VALUE></PROPERTY><PROPERTY NAME="B" TYPE="boolean"><VALUE>FALSE</VALUE></PROPERTY></INSTANCE>'
        ([xml]$x).INSTANCE.PROPERTY[0].VALUE | Should -Be '<a & "b">'
        New-MirrorSnapshotSettings -ConsistencyLevel 1 | Should -Match '<PROPERTY NAME="GuestBackupType" TYPE="uint8"><VALUE>2</VALUE></PROPERTY>'
        New-MirrorSnapshotSettings -ConsistencyLevel 2 | Should -Not -Match 'GuestBackupType'
    }
}
