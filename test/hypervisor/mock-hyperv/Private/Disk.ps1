# Disk cmdlets. While a checkpoint exists a drive's Path is the .avhdx overlay (a differencing
# disk in Hyper-V; here a log of the guest writes made since the checkpoint, merged on release).

function ConvertTo-MockDriveObject {
    param($Vm, $Disk, [string]$ReportId)
    $path = [string]$Disk.Path
    if ($Disk.Overlay) { $path = [string]$Disk.Overlay }
    [pscustomobject]@{ PSTypeName = 'Microsoft.HyperV.PowerShell.HardDiskDrive'
        Path = $path; VMId = [guid]$Vm.Id; VMName = [string]$Vm.Name
        ControllerType = [MockHyperV.ControllerType]$Disk.ControllerType
        ControllerNumber = [int]$Disk.ControllerNumber; ControllerLocation = [int]$Disk.ControllerLocation
        DiskNumber = $Disk.DiskNumber; MockReportId = $ReportId }
}

function Get-VMHardDiskDrive {
    [CmdletBinding()]
    param([Parameter(Position = 0)][string[]]$VMName, [Parameter(ValueFromPipeline = $true)]$VM)
    if ($null -ne $VM -and $VM.MockReportId) {
        $report = $script:MockReports[[string]$VM.MockReportId]
        foreach ($d in @($report.Vm.Disks)) { ConvertTo-MockDriveObject $report.Vm $d ([string]$VM.MockReportId) }
        return
    }
    $state = Read-MockState
    foreach ($v in (Resolve-MockVmArgument $state $VM $VMName)) {
        foreach ($d in @($v.Disks)) { ConvertTo-MockDriveObject $v $d '' }
    }
}

function Set-VMHardDiskDrive {
    # Mocked only on a compatibility report's VM (how a replica is pointed at its replicated disks).
    [CmdletBinding(SupportsShouldProcess = $true)]
    param([Parameter(ValueFromPipeline = $true)]$VMHardDiskDrive, [string]$Path)
    if ($null -eq $VMHardDiskDrive -or -not $VMHardDiskDrive.MockReportId) {
        Throw-MockError 'StubNotImplemented: Set-VMHardDiskDrive is mocked only on a Compare-VM report VM' 'StubNotImplemented'
    }
    $report = $script:MockReports[[string]$VMHardDiskDrive.MockReportId]
    foreach ($d in @($report.Vm.Disks)) {
        if ([int]$d.ControllerNumber -eq $VMHardDiskDrive.ControllerNumber -and [int]$d.ControllerLocation -eq $VMHardDiskDrive.ControllerLocation -and [string]$d.ControllerType -eq $VMHardDiskDrive.ControllerType.ToString()) {
            $d.Path = $Path
            $d.Overlay = $null
        }
    }
}

function Get-MockQemuInfo {
    param([string]$Path)
    $json = & qemu-img info --output=json -- $Path 2>&1
    if ($LASTEXITCODE -ne 0) { Throw-MockError "The system cannot find the file specified: '$Path'." 'ObjectNotFound' 'ObjectNotFound' }
    ($json -join "`n") | ConvertFrom-Json
}

function Get-VHD {
    [CmdletBinding()]
    param([Parameter(Mandatory = $true, Position = 0)][string]$Path)
    $state = Read-MockState
    foreach ($v in @($state.Vms)) {
        foreach ($d in @($v.Disks)) {
            $common = @{ PSTypeName = 'Microsoft.Vhd.PowerShell.VirtualHardDisk'; VhdFormat = [MockHyperV.VhdFormat]::VHDX
                Size = [long]$d.SizeBytes; DiskIdentifier = [string]$d.DiskIdentifier; Attached = $true }
            if ([string]$d.Overlay -eq $Path) {
                $common.Path = $Path; $common.VhdType = [MockHyperV.VhdType]::Differencing; $common.ParentPath = [string]$d.Path
                $common.FileSize = [long](Get-Item -LiteralPath $Path).Length
                return [pscustomobject]$common
            }
            if ([string]$d.Path -eq $Path -and $null -eq $d.DiskNumber) {
                if (-not (Test-Path -LiteralPath $Path)) { Throw-MockError "The system cannot find the file specified: '$Path'." 'ObjectNotFound' 'ObjectNotFound' }
                if ($d.InUse) { Throw-MockError "Getting the mounted storage instance for the path '$Path' failed: The process cannot access the file because it is being used by another process." 'ObjectInUse,Microsoft.Vhd.PowerShell.Cmdlets.GetVHD' 'ResourceBusy' }
                $common.Path = $Path; $common.VhdType = [MockHyperV.VhdType]$d.Subformat; $common.ParentPath = ''
                $common.FileSize = [long](Get-Item -LiteralPath $Path).Length
                return [pscustomobject]$common
            }
        }
    }
    if (-not (Test-Path -LiteralPath $Path)) { Throw-MockError "The system cannot find the file specified: '$Path'." 'ObjectNotFound' 'ObjectNotFound' }
    $info = Get-MockQemuInfo $Path
    [pscustomobject]@{ PSTypeName = 'Microsoft.Vhd.PowerShell.VirtualHardDisk'; Path = $Path; VhdFormat = [MockHyperV.VhdFormat]::VHDX
        VhdType = [MockHyperV.VhdType]::Dynamic; Size = [long]$info.'virtual-size'; FileSize = [long](Get-Item -LiteralPath $Path).Length
        ParentPath = ''; DiskIdentifier = ''; Attached = $false }
}
