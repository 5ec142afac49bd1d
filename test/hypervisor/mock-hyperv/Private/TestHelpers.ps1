# Test-side helpers: create VMs with real VHDX disks (qemu-img), simulate guest writes (into the
# checkpoint overlay while one exists, else into the VHDX through qemu-io, logged for RCT), and
# change host facts or inject faults.

function New-MockVm {
    param([Parameter(Mandatory = $true)][string]$Name, [string]$Id, [long]$MemoryBytes = 1073741824, [int]$ProcessorCount = 2,
          [string]$Version = '9.0', [int]$Generation = 2, [int]$HeartbeatDelayMs = 200, [string]$State = 'Off',
          [object[]]$Disks = @(), [object[]]$Adapters = @(), [string]$Path)
    $ms = Read-MockState
    if (-not $Id) { $Id = New-MockId }
    $diskRecords = @(); $i = 0
    foreach ($d in $Disks) {
        $sub = 'Dynamic'; if ($d.Subformat) { $sub = [string]$d.Subformat }
        if ($null -ne $d.PassThrough) {
            # A physical disk given to the VM: no file; Hyper-V shows this text as the drive's Path.
            $diskRecords += @{ Path = ('Disk {0} {1:N2} MB Bus 0 Lun {0} Target 0' -f [int]$d.PassThrough, ([long]$d.SizeBytes / 1MB)); DiskNumber = [int]$d.PassThrough
                Subformat = 'Fixed'; SizeBytes = [long]$d.SizeBytes; DiskIdentifier = New-MockId; DeviceId = New-MockId
                ControllerType = 'SCSI'; ControllerNumber = 0; ControllerLocation = $i; Overlay = $null; Epoch = 1 }
            $i++
            continue
        }
        if (-not (Test-Path -LiteralPath $d.Path)) {
            [void](New-Item -ItemType Directory -Force -Path (Split-Path -Parent $d.Path))
            $out = & qemu-img create -q -f vhdx -o "subformat=$($sub.ToLowerInvariant())" -- $d.Path ([long]$d.SizeBytes) 2>&1
            if ($LASTEXITCODE -ne 0) { throw "qemu-img create failed: $out" }
        }
        # InUse: another host or process holds the file (shared storage), so Get-VHD cannot open it.
        $diskRecords += @{ Path = [string]$d.Path; Subformat = $sub; SizeBytes = [long]$d.SizeBytes; DiskIdentifier = New-MockId; DeviceId = New-MockId
            ControllerType = 'SCSI'; ControllerNumber = 0; ControllerLocation = $i; Overlay = $null; Epoch = 1; InUse = [bool]$d.InUse }
        $i++
    }
    $adapterRecords = @(); $j = 0
    foreach ($a in $Adapters) {
        $mac = '00155D' + ('{0:X6}' -f (Get-Random -Maximum 16777215)); if ($a.MacAddress) { $mac = [string]$a.MacAddress }
        $dyn = $true; if ($null -ne $a.DynamicMac) { $dyn = [bool]$a.DynamicMac }
        $nm = 'Network Adapter'; if ($a.Name) { $nm = [string]$a.Name }
        $adapterRecords += @{ Name = $nm; Id = "Microsoft:$Id\$j"; MacAddress = $mac; DynamicMac = $dyn; SwitchName = $a.SwitchName }
        $j++
    }
    $hbAt = $null; if ($State -eq 'Running' -and $HeartbeatDelayMs -ge 0) { $hbAt = Get-MockNow }
    if (-not $Path) { $Path = Join-Path $script:MockStatePath "vms/$Id" }
    $vm = @{ Id = $Id; Name = $Name; State = $State; Transition = $null; HeartbeatAt = $hbAt; HeartbeatDelayMs = $HeartbeatDelayMs
        MemoryBytes = $MemoryBytes; ProcessorCount = $ProcessorCount; Version = $Version; Generation = $Generation; Path = $Path
        Disks = $diskRecords; Adapters = $adapterRecords; Snapshots = @(); ReferencePoints = @() }
    $ms.Vms = @(@($ms.Vms) + @($vm))
    Save-MockState $ms
    $Id
}

function Write-MockGuestData {
    param([Parameter(Mandatory = $true)][guid]$VmId, [int]$DiskIndex = 0, [long]$Offset, [long]$Length, [int]$Pattern)
    $state = Read-MockState
    $vm = Find-MockVm $state $VmId
    if (-not $vm) { throw "no mock VM $VmId" }
    $disk = @($vm.Disks)[$DiskIndex]
    $w = @{ Offset = $Offset; Length = $Length; Pattern = $Pattern }
    if ($disk.Overlay) {
        [IO.File]::AppendAllText($disk.Overlay, (ConvertTo-Json -InputObject $w -Compress) + "`n")
        return 'overlay'
    }
    Invoke-MockQemuWrites $disk.Path @($w)
    Add-MockRctRecord $state $disk $Offset $Length ([int]$disk.Epoch)
    Save-MockState $state
    'base'
}

function Set-MockHost {
    # Changes host facts: any of Name, Switches, SupportedVersions, TotalMemoryBytes, RctFail, RctChunkBytes, StartMs, StopMs, JobDelayMs,
    # JobFinalState (7, or 32768 = completed with warnings), SnapshotJobDelayMs, GuestVssFails.
    param([Parameter(Mandatory = $true)][hashtable]$Settings)
    $state = Read-MockState
    foreach ($k in $Settings.Keys) { $state.Host[$k] = $Settings[$k] }
    Save-MockState $state
}

function Get-MockState { Read-MockState }
