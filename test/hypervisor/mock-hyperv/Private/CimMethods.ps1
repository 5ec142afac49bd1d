# The Msvm methods' effects on the mock state: checkpoint overlays, merges, RCT epochs.
# RCT model: each disk has an epoch; a write is logged with the epoch current when it reaches the
# base VHDX. An RCT id "rctX:<disk>:<n>" answers "writes logged with epoch >= n". Converting a
# checkpoint to a reference point bumps the epoch first, so writes that waited in the overlay
# count as changes after the new reference, exactly as on Hyper-V.

function Invoke-MockQemuWrites {
    param([string]$Path, $Writes)
    $args_ = New-Object System.Collections.ArrayList
    [void]$args_.AddRange(@('-f', 'vhdx'))
    foreach ($w in @($Writes)) { [void]$args_.AddRange(@('-c', ('write -P {0} {1} {2}' -f [int]$w.Pattern, [long]$w.Offset, [long]$w.Length))) }
    if ($args_.Count -le 2) { return }
    [void]$args_.Add('--')
    [void]$args_.Add($Path)
    $out = & qemu-io @args_ 2>&1
    if ($LASTEXITCODE -ne 0) { Throw-MockError "qemu-io failed on '$Path': $out" 'MockQemuFailed' }
}

function Add-MockRctRecord {
    param($State, $Disk, [long]$Offset, [long]$Length, [int]$Epoch)
    $key = [string]$Disk.DiskIdentifier
    if (-not $State.RctLog.ContainsKey($key)) { $State.RctLog[$key] = @() }
    $State.RctLog[$key] = @($State.RctLog[$key]) + @(@{ Epoch = $Epoch; Offset = $Offset; Length = $Length })
}

function Merge-MockOverlay {
    param($State, $Disk, [int]$Epoch)
    if (-not $Disk.Overlay) { return }
    $writes = @()
    if (Test-Path -LiteralPath $Disk.Overlay) {
        $writes = @([IO.File]::ReadAllLines($Disk.Overlay) | Where-Object { $_ } | ForEach-Object { $_ | ConvertFrom-Json })
    }
    Invoke-MockQemuWrites $Disk.Path $writes
    foreach ($w in $writes) { Add-MockRctRecord $State $Disk ([long]$w.Offset) ([long]$w.Length) $Epoch }
    Remove-Item -LiteralPath $Disk.Overlay -Force -ErrorAction SilentlyContinue
    $Disk.Overlay = $null
}

function Invoke-MockCreateSnapshot {
    # Application consistency (ConsistencyLevel 1) needs a running guest whose VSS answers: with
    # Host.GuestVssFails, or a guest without heartbeat, the job ends in state 10 and makes nothing,
    # as Hyper-V's does when the guest cannot quiesce. Host.SnapshotJobDelayMs: the job (and so the
    # snapshot's completion) can outlast the caller's deadline; the snapshot exists from the start.
    param([hashtable]$A)
    if ([int]$A.SnapshotType -ne 32768) { return [pscustomobject]@{ ReturnValue = [uint32]32773 } }
    $settings = Test-MockEmbeddedArgument ([string]$A.SnapshotSettings) 'Msvm_VirtualSystemSnapshotSettingData' 'CreateSnapshot' 'SnapshotSettings'
    if ($null -eq $settings) { return [pscustomobject]@{ ReturnValue = [uint32]32773 } }
    $level = [string]$settings.ConsistencyLevel
    if (@('1', '2') -notcontains $level) { return [pscustomobject]@{ ReturnValue = [uint32]32773 } }
    $state = Read-MockState
    $vm = Find-MockVm $state ([guid]$A.AffectedSystem.Name)
    if (-not $vm) { return [pscustomobject]@{ ReturnValue = [uint32]32779 } }
    if (@($vm.Snapshots).Count -gt 0) { Throw-MockError 'MockHyperV supports one checkpoint per VM at a time' 'StubNotImplemented' }
    $delay = $null; if ($null -ne $state.Host.SnapshotJobDelayMs) { $delay = [int]$state.Host.SnapshotJobDelayMs }
    if ($level -eq '1') {
        $beat = Get-MockHeartbeat $vm
        if ($vm.State -ne 'Running' -or $state.Host.GuestVssFails -or $null -eq $beat -or -not $beat.ToString().StartsWith('Ok')) {
            return New-MockJob $null -DelayMs $delay -FinalState 10 -ErrorCode 32768 -ErrorDescription "The application-consistent checkpoint of '$($vm.Name)' failed: the guest could not quiesce (VSS writer failed or integration services absent)."
        }
    }
    $backupType = $null; if ($null -ne $settings.GuestBackupType) { $backupType = [string]$settings.GuestBackupType }
    $snapGuid = [guid]::NewGuid().ToString().ToUpperInvariant()
    $snapDisks = @()
    foreach ($d in @($vm.Disks)) {
        $dir = Split-Path -Parent $d.Path
        $stem = [IO.Path]::GetFileNameWithoutExtension($d.Path)
        $overlay = Join-Path $dir "${stem}_$snapGuid.avhdx"
        [IO.File]::WriteAllText($overlay, '')
        $d.Overlay = $overlay
        $snapDisks += @{ DiskIdentifier = [string]$d.DiskIdentifier; DeviceId = [string]$d.DeviceId; ControllerLocation = [int]$d.ControllerLocation
            ParentPath = [string]$d.Path; Overlay = $overlay }
    }
    $snap = @{ InstanceID = "Microsoft:$snapGuid"; CreatedAt = (Get-MockNow); Disks = $snapDisks; Name = "$($vm.Name) - Backup - ($snapGuid)"
        ConsistencyLevel = [int]$level; GuestBackupType = $backupType }
    $vm.Snapshots = @(@($vm.Snapshots) + @($snap))
    Save-MockState $state
    New-MockJob (ConvertTo-MockSnapshotCim $vm $snap) -DelayMs $delay
}

function Invoke-MockReleaseSnapshot {
    param($Snapshot, [bool]$ToReferencePoint)
    $state = Read-MockState
    $vm = Find-MockVm $state ([guid]$Snapshot.VirtualSystemIdentifier)
    $snap = $null
    foreach ($s in @($vm.Snapshots)) { if ($s.InstanceID -eq $Snapshot.InstanceID) { $snap = $s } }
    if (-not $snap) { return [pscustomobject]@{ ReturnValue = [uint32]32779 } }
    $diskIds = @(); $rctIds = @()
    foreach ($d in @($vm.Disks)) {
        $epoch = [int]$d.Epoch
        if ($ToReferencePoint) { $epoch++; $d.Epoch = $epoch }
        Merge-MockOverlay $state $d $epoch
        # As Hyper-V: the SASD InstanceIDs of the VM's disks, not VHD DiskIdentifier GUIDs.
        $diskIds += (Get-MockSasdId $vm.Id $d)
        $rctIds += "rctX:$($d.DiskIdentifier):$epoch"
    }
    $vm.Snapshots = @($vm.Snapshots | Where-Object { $_.InstanceID -ne $snap.InstanceID })
    $result = $null
    if ($ToReferencePoint) {
        $rp = @{ InstanceID = "Microsoft:$([guid]::NewGuid().ToString().ToUpperInvariant())"; VirtualDiskIdentifiers = $diskIds; ResilientChangeTrackingIdentifiers = $rctIds
            ConsistencyLevel = [int]$snap.ConsistencyLevel }
        $vm.ReferencePoints = @(@($vm.ReferencePoints) + @($rp))
        $result = ConvertTo-MockReferencePoint $vm $rp
    }
    Save-MockState $state
    New-MockJob $result
}

function Invoke-MockDiskChanges {
    param([hashtable]$A)
    # TargetSnapshotId "is only valid for VHD Set files" (GetVirtualDiskChanges' documentation): on a
    # VHDX it is an invalid parameter, even empty, so the mock refuses it being passed at all.
    if ($A.ContainsKey('TargetSnapshotId') -and ([string]$A.Path) -notmatch '\.vhds\z') { return [pscustomobject]@{ ReturnValue = [uint32]32773 } }
    $state = Read-MockState
    if ($state.Host.RctFail) { return [pscustomobject]@{ ReturnValue = [uint32]32768 } }
    $vm = $null; $disk = $null
    foreach ($v in @($state.Vms)) { foreach ($d in @($v.Disks)) { if ([string]$d.Path -eq [string]$A.Path) { $vm = $v; $disk = $d } } }
    if (-not $disk) { return [pscustomobject]@{ ReturnValue = [uint32]32779 } }
    if ([version]$vm.Version -lt [version]'6.2') { return [pscustomobject]@{ ReturnValue = [uint32]32770 } }
    $limit = [string]$A.LimitId
    if ($limit -notmatch '^rctX:([0-9a-fA-F-]+):(\d+)$' -or $Matches[1] -ne [string]$disk.DiskIdentifier) { return [pscustomobject]@{ ReturnValue = [uint32]32773 } }
    $since = [int]$Matches[2]
    $known = @($vm.ReferencePoints | Where-Object { @($_.ResilientChangeTrackingIdentifiers) -contains $limit })
    if ($known.Count -eq 0) { return [pscustomobject]@{ ReturnValue = [uint32]32768 } }
    $off = [long]$A.ByteOffset
    $processed = [Math]::Min([long]$A.ByteLength, [long]$state.Host.RctChunkBytes)
    $end = $off + $processed
    $hits = @()
    foreach ($r in @($state.RctLog[[string]$disk.DiskIdentifier])) {
        if ([int]$r.Epoch -lt $since) { continue }
        $s = [Math]::Max([long]$r.Offset, $off); $e = [Math]::Min([long]$r.Offset + [long]$r.Length, $end)
        if ($e -gt $s) { $hits += ,@($s, $e) }
    }
    $hits = @($hits | Sort-Object { $_[0] })
    $offs = New-Object System.Collections.Generic.List[uint64]; $lens = New-Object System.Collections.Generic.List[uint64]
    foreach ($h in $hits) {
        $n = $offs.Count
        if ($n -gt 0 -and [long]$offs[$n - 1] + [long]$lens[$n - 1] -ge $h[0]) {
            $lens[$n - 1] = [uint64]([Math]::Max([long]$offs[$n - 1] + [long]$lens[$n - 1], $h[1]) - [long]$offs[$n - 1])
        } else { $offs.Add([uint64]$h[0]); $lens.Add([uint64]($h[1] - $h[0])) }
    }
    [pscustomobject]@{ ReturnValue = [uint32]0; ProcessedByteLength = [uint64]$processed
        ChangedByteOffsets = $offs.ToArray(); ChangedByteLengths = $lens.ToArray(); Job = $null }
}

function Invoke-MockDestroyReferencePoint {
    param($Rp)
    $state = Read-MockState
    $vm = Find-MockVm $state ([guid]$Rp.VirtualSystemIdentifier)
    $vm.ReferencePoints = @($vm.ReferencePoints | Where-Object { $_.InstanceID -ne $Rp.InstanceID })
    Save-MockState $state
    [pscustomobject]@{ ReturnValue = [uint32]0; Job = $null }
}
