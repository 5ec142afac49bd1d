# Config-only export (Msvm ExportSystemDefinition) and the replica side: Compare-VM reports
# incompatibilities (missing switch = 33012 as on Hyper-V), Import-VM registers in place, keeps the id.
# The .vmcx here is JSON (the real one is binary); only the mock reads it.

function Invoke-MockExportDefinition {
    # Refused (32775 invalid state, counted in Host.ExportsDuringView) while a recovery snapshot
    # exists: on Hyper-V such an export may lock the VHDX chain until VMMS restarts.
    param([hashtable]$A)
    $settings = Test-MockEmbeddedArgument ([string]$A.ExportSettingData) 'Msvm_VirtualSystemExportSettingData' 'ExportSystemDefinition' 'ExportSettingData'
    if ($null -eq $settings) { return [pscustomobject]@{ ReturnValue = [uint32]32773 } }
    if ($settings.CopyVmStorage -ne $false) { Throw-MockError 'MockHyperV: export would copy disks (CopyVmStorage not FALSE)' 'MockUnexpected' }
    $state = Read-MockState
    $vm = Find-MockVm $state ([guid]$A.ComputerSystem.Name)
    if (-not $vm) { return [pscustomobject]@{ ReturnValue = [uint32]32779 } }
    if (@($vm.Snapshots).Count -gt 0) {
        $state.Host.ExportsDuringView = [int]$state.Host.ExportsDuringView + 1
        Save-MockState $state
        return [pscustomobject]@{ ReturnValue = [uint32]32775 }
    }
    $dir = Join-Path ([string]$A.ExportDirectory) 'Virtual Machines'
    [void](New-Item -ItemType Directory -Force -Path $dir)
    $copy = @{ Id = $vm.Id; Name = $vm.Name; MemoryBytes = $vm.MemoryBytes; ProcessorCount = $vm.ProcessorCount
        Version = $vm.Version; Generation = $vm.Generation; HeartbeatDelayMs = $vm.HeartbeatDelayMs
        Disks = @($vm.Disks | ForEach-Object { @{ Path = $_.Path; Subformat = $_.Subformat; SizeBytes = $_.SizeBytes
            ControllerType = $_.ControllerType; ControllerNumber = $_.ControllerNumber; ControllerLocation = $_.ControllerLocation } })
        Adapters = @($vm.Adapters) }
    [void](Write-MockVmcx -Vm $copy -Directory $dir)
    New-MockJob $null
}

function Write-MockVmcx {
    # Writes a .vmcx of the VM record $Vm into $Directory, named <FileId>.vmcx (upper case, as
    # Hyper-V names it; FileId defaults to the VM's own id). As on Hyper-V, only the contents say
    # which VM it is: Compare-VM and Import-VM read the id from inside and never look at the name,
    # so a test can forge a file whose name says one VM and whose contents say another.
    param([Parameter(Mandatory = $true)][hashtable]$Vm, [Parameter(Mandatory = $true)][string]$Directory, [string]$FileId)
    if (-not $FileId) { $FileId = [string]$Vm.Id }
    $file = Join-Path $Directory "$($FileId.ToUpperInvariant()).vmcx"
    [IO.File]::WriteAllText($file, (ConvertTo-Json -InputObject @{ MockVmcx = 1; Vm = $Vm } -Depth 20), (New-Object Text.UTF8Encoding $false))
    $file
}

function Get-MockIncompatibilities {
    param($ReportVm)
    $state = Read-MockState
    $list = New-Object System.Collections.ArrayList
    foreach ($a in @($ReportVm.Adapters)) {
        if ($a.SwitchName -and @($state.Host.Switches) -notcontains $a.SwitchName) {
            [void]$list.Add([pscustomobject]@{ Message = "Could not find Ethernet switch '$($a.SwitchName)'."; MessageId = 33012; Source = $a })
        }
    }
    if (@($state.Host.SupportedVersions) -notcontains [string]$ReportVm.Version) {
        [void]$list.Add([pscustomobject]@{ Message = "The configuration version $($ReportVm.Version) is not supported by this host."; MessageId = 90001; Source = $null })
    }
    foreach ($d in @($ReportVm.Disks)) {
        if (-not (Test-Path -LiteralPath ([string]$d.Path))) {
            [void]$list.Add([pscustomobject]@{ Message = "Could not find the virtual hard disk '$($d.Path)'."; MessageId = 90002; Source = $d })
        }
    }
    if (Find-MockVm $state ([guid]$ReportVm.Id)) {
        [void]$list.Add([pscustomobject]@{ Message = "A virtual machine with identifier $($ReportVm.Id) already exists."; MessageId = 90003; Source = $null })
    }
    ,$list.ToArray()
}

function New-MockReport {
    param([string]$ReportId)
    $r = $script:MockReports[$ReportId]
    $vmObj = [pscustomobject]@{ PSTypeName = 'Microsoft.HyperV.PowerShell.VirtualMachine'; MockReportId = $ReportId
        Id = [guid]$r.Vm.Id; Name = [string]$r.Vm.Name; State = [MockHyperV.VMState]::Off; Version = [string]$r.Vm.Version }
    [pscustomobject]@{ PSTypeName = 'Microsoft.HyperV.PowerShell.VMCompatibilityReport'; MockReportId = $ReportId
        Path = $r.Path; VM = $vmObj; Incompatibilities = (Get-MockIncompatibilities $r.Vm) }
}

function Compare-VM {
    [CmdletBinding()]
    param([string]$Path, [switch]$Register, [switch]$Copy, $CompatibilityReport)
    if ($null -ne $CompatibilityReport) { return New-MockReport ([string]$CompatibilityReport.MockReportId) }
    if (-not $Register -or $Copy) { Throw-MockError 'StubNotImplemented: Compare-VM is mocked for -Register only' 'StubNotImplemented' }
    if (-not (Test-Path -LiteralPath $Path)) { Throw-MockError "The system cannot find the file specified: '$Path'." 'ObjectNotFound' 'ObjectNotFound' }
    $doc = [IO.File]::ReadAllText($Path) | ConvertFrom-Json -AsHashtable
    if ($doc.MockVmcx -ne 1) { Throw-MockError "'$Path' is not a virtual machine configuration file." 'InvalidParameter' 'InvalidArgument' }
    $id = New-MockId
    $script:MockReports[$id] = @{ Path = $Path; Vm = $doc.Vm }
    New-MockReport $id
}

function Import-VM {
    [CmdletBinding(SupportsShouldProcess = $true)]
    param([string]$Path, $CompatibilityReport, [switch]$Register, [switch]$Copy, [switch]$GenerateNewId)
    if ($null -eq $CompatibilityReport) { Throw-MockError 'StubNotImplemented: Import-VM is mocked with -CompatibilityReport only' 'StubNotImplemented' }
    $r = $script:MockReports[[string]$CompatibilityReport.MockReportId]
    $issues = Get-MockIncompatibilities $r.Vm
    if ($issues.Count -gt 0) { Throw-MockError "Unable to import virtual machine due to configuration errors: $($issues[0].Message)" 'OperationFailed,Microsoft.HyperV.PowerShell.Commands.ImportVM' }
    $state = Read-MockState
    $vm = $r.Vm
    $vm.State = 'Off'; $vm.Transition = $null; $vm.HeartbeatAt = $null; $vm.Snapshots = @(); $vm.ReferencePoints = @()
    $vm.Path = Split-Path -Parent (Split-Path -Parent $r.Path)
    foreach ($d in @($vm.Disks)) { $d.DiskIdentifier = New-MockId; $d.DeviceId = New-MockId; $d.Epoch = 1; $d.Overlay = $null }
    $state.Vms = @(@($state.Vms) + @($vm))
    Save-MockState $state
    ConvertTo-MockVmObject $vm
}
