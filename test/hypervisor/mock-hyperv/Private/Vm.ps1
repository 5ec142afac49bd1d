# VM cmdlets: Get-VM (wildcard names, duplicate names allowed), Start-VM/Stop-VM with timed
# Starting/Stopping phases and Hyper-V's wrong-state failures, network adapters, host facts.

function ConvertTo-MockVmObject {
    param($Vm)
    [pscustomobject]@{
        PSTypeName = 'Microsoft.HyperV.PowerShell.VirtualMachine'
        Id = [guid]$Vm.Id; VMId = [guid]$Vm.Id; Name = [string]$Vm.Name; VMName = [string]$Vm.Name
        State = [MockHyperV.VMState]$Vm.State; Heartbeat = (Get-MockHeartbeat $Vm)
        MemoryStartup = [long]$Vm.MemoryBytes; ProcessorCount = [int]$Vm.ProcessorCount
        Version = [string]$Vm.Version; Generation = [int]$Vm.Generation
        Path = [string]$Vm.Path; ConfigurationLocation = [string]$Vm.Path
        Status = 'Operating normally'
    }
}

function Resolve-MockVmArgument {
    # The VMs named by -VM objects or by -Name/-VMName patterns (wildcards, as Hyper-V does).
    param($State, $VM, [string[]]$Name)
    $out = New-Object System.Collections.ArrayList
    if ($null -ne $VM) {
        foreach ($v in @($VM)) {
            $found = Find-MockVm $State ([guid]$v.Id)
            if (-not $found) { Throw-MockError "Hyper-V was unable to find a virtual machine with id '$($v.Id)'." 'InvalidParameter' 'ObjectNotFound' }
            [void]$out.Add($found)
        }
        return ,$out.ToArray()
    }
    foreach ($n in @($Name)) {
        $pattern = New-Object System.Management.Automation.WildcardPattern($n, 'IgnoreCase')
        $hit = @($State.Vms | Where-Object { $pattern.IsMatch([string]$_.Name) })
        if ($hit.Count -eq 0) { Throw-MockError "Hyper-V was unable to find a virtual machine with name '$n'." 'InvalidParameter' 'ObjectNotFound' }
        foreach ($h in $hit) { [void]$out.Add($h) }
    }
    ,$out.ToArray()
}

function Get-VM {
    [CmdletBinding(DefaultParameterSetName = 'Name')]
    param([Parameter(ParameterSetName = 'Name', Position = 0)][string[]]$Name,
          [Parameter(ParameterSetName = 'Id', Mandatory = $true)][guid]$Id)
    $state = Read-MockState
    if ($PSCmdlet.ParameterSetName -eq 'Id') {
        $vm = Find-MockVm $state $Id
        if (-not $vm) {
            $ex = New-Object System.InvalidOperationException("Hyper-V was unable to find a virtual machine with id '$Id'.")
            $PSCmdlet.WriteError((New-Object System.Management.Automation.ErrorRecord($ex, 'InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVM', 'ObjectNotFound', $Id)))
            return
        }
        ConvertTo-MockVmObject $vm
        return
    }
    if (-not $Name) { foreach ($vm in @($state.Vms)) { ConvertTo-MockVmObject $vm }; return }
    foreach ($n in $Name) {
        $pattern = New-Object System.Management.Automation.WildcardPattern($n, 'IgnoreCase')
        $hit = @($state.Vms | Where-Object { $pattern.IsMatch([string]$_.Name) })
        if ($hit.Count -eq 0 -and -not [System.Management.Automation.WildcardPattern]::ContainsWildcardCharacters($n)) {
            $ex = New-Object System.InvalidOperationException("Hyper-V was unable to find a virtual machine with name '$n'.")
            $PSCmdlet.WriteError((New-Object System.Management.Automation.ErrorRecord($ex, 'InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVM', 'ObjectNotFound', $n)))
        }
        foreach ($vm in $hit) { ConvertTo-MockVmObject $vm }
    }
}

function Invoke-MockAsJob {
    # As Hyper-V does it: without -AsJob the cmdlet blocks until the transition ends; with -AsJob
    # it returns a job that runs until then, and errors surface through the job, not at the call.
    param([scriptblock]$Action, [bool]$AsJob)
    $until = [long]0
    try { $until = [long](& $Action) } catch {
        if (-not $AsJob) { throw }
        return (Start-ThreadJob -ScriptBlock { param($m) throw $m } -ArgumentList $_.Exception.Message)
    }
    $waitMs = [Math]::Max([long]0, $until - (Get-MockNow))
    if ($AsJob) { return (Start-ThreadJob -ScriptBlock { param($ms) Start-Sleep -Milliseconds $ms } -ArgumentList $waitMs) }
    if ($waitMs -gt 0) { Start-Sleep -Milliseconds $waitMs }
}

function Start-VM {
    [CmdletBinding(SupportsShouldProcess = $true)]
    param([Parameter(Position = 0)][string[]]$Name, [Parameter(ValueFromPipeline = $true)]$VM, [switch]$Passthru, [switch]$AsJob)
    Invoke-MockAsJob -AsJob $AsJob.IsPresent -Action { Invoke-MockStartVm $VM $Name }
}

function Invoke-MockStartVm {
    # Returns when (epoch ms) the last transition it started ends.
    param($VM, [string[]]$Name)
    $until = [long]0
    $state = Read-MockState
    $host_ = $state.Host
    foreach ($v in (Resolve-MockVmArgument $state $VM $Name)) {
        if (@('Off', 'Saved') -notcontains $v.State) {
            Throw-MockError "'$($v.Name)' failed to start. The operation cannot be performed while the object is in its current state." 'InvalidState,Microsoft.HyperV.PowerShell.Commands.StartVM'
        }
        if ([long]$v.MemoryBytes -gt (Get-MockFreeMemory $state)) {
            Throw-MockError "'$($v.Name)' could not initialize. Not enough memory in the system to start the virtual machine." 'OperationFailed,Microsoft.HyperV.PowerShell.Commands.StartVM'
        }
        $now = Get-MockNow
        $v.State = 'Starting'
        $v.Transition = @{ To = 'Running'; At = $now + [long]$host_.StartMs }
        $until = [Math]::Max($until, [long]$v.Transition.At)
        $v.HeartbeatAt = $null
        if ([long]$v.HeartbeatDelayMs -ge 0) { $v.HeartbeatAt = $now + [long]$host_.StartMs + [long]$v.HeartbeatDelayMs }
    }
    Save-MockState $state
    $until
}

function Stop-VM {
    [CmdletBinding(SupportsShouldProcess = $true)]
    param([Parameter(Position = 0)][string[]]$Name, [Parameter(ValueFromPipeline = $true)]$VM,
          [switch]$TurnOff, [switch]$Save, [switch]$Force, [switch]$Passthru, [switch]$AsJob)
    Invoke-MockAsJob -AsJob $AsJob.IsPresent -Action { Invoke-MockStopVm $VM $Name $TurnOff.IsPresent $Save.IsPresent $Force.IsPresent }
}

function Invoke-MockStopVm {
    # Returns when (epoch ms) the last transition it started ends.
    param($VM, [string[]]$Name, [bool]$TurnOff, [bool]$Save, [bool]$Force)
    $until = [long]0
    $state = Read-MockState
    foreach ($v in (Resolve-MockVmArgument $state $VM $Name)) {
        if (@('Running', 'Paused') -notcontains $v.State) {
            Throw-MockError "'$($v.Name)' failed to change state. The operation cannot be performed while the object is in its current state." 'InvalidState,Microsoft.HyperV.PowerShell.Commands.StopVM'
        }
        $now = Get-MockNow
        if ($Save) {
            $v.State = 'Saving'; $v.Transition = @{ To = 'Saved'; At = $now + [long]$state.Host.StopMs }
            $until = [Math]::Max($until, [long]$v.Transition.At)
        } elseif ($TurnOff) {
            $v.State = 'Off'; $v.Transition = $null
        } else {
            if (-not $Force) { Throw-MockError "Stop-VM needs confirmation ('$($v.Name)' may have unsaved data); in a non-interactive host pass -Force." 'ConfirmationRequired' }
            $beat = Get-MockHeartbeat $v
            if ($null -eq $beat -or -not $beat.ToString().StartsWith('Ok')) {
                Throw-MockError "'$($v.Name)' failed to shut down: the shutdown integration service is not available." 'ShutdownFailed,Microsoft.HyperV.PowerShell.Commands.StopVM'
            }
            $v.State = 'Stopping'; $v.Transition = @{ To = 'Off'; At = $now + [long]$state.Host.StopMs }
            $until = [Math]::Max($until, [long]$v.Transition.At)
        }
        $v.HeartbeatAt = $null
    }
    Save-MockState $state
    $until
}

function Get-VMNetworkAdapter {
    [CmdletBinding()]
    param([Parameter(Position = 0)][string[]]$VMName, [Parameter(ValueFromPipeline = $true)]$VM, [string]$Name)
    $state = Read-MockState
    foreach ($v in (Resolve-MockVmArgument $state $VM $VMName)) {
        foreach ($a in @($v.Adapters)) {
            if ($Name -and -not ([string]$a.Name -like $Name)) { continue }
            [pscustomobject]@{ PSTypeName = 'Microsoft.HyperV.PowerShell.VMNetworkAdapter'
                Name = [string]$a.Name; Id = [string]$a.Id; VMId = [guid]$v.Id; VMName = [string]$v.Name
                MacAddress = [string]$a.MacAddress; DynamicMacAddressEnabled = [bool]$a.DynamicMac; SwitchName = $a.SwitchName }
        }
    }
}

function Set-VMNetworkAdapter {
    [CmdletBinding(SupportsShouldProcess = $true)]
    param([Parameter(ValueFromPipeline = $true)]$VMNetworkAdapter, [string]$StaticMacAddress, [switch]$DynamicMacAddress, [switch]$Passthru)
    if ($null -eq $VMNetworkAdapter) { Throw-MockError 'StubNotImplemented: Set-VMNetworkAdapter is mocked only with -VMNetworkAdapter' 'StubNotImplemented' }
    if ($StaticMacAddress -and $StaticMacAddress -notmatch '^[0-9A-Fa-f]{12}$') {
        Throw-MockError "Invalid MAC address '$StaticMacAddress'." 'InvalidParameter' 'InvalidArgument'
    }
    $state = Read-MockState
    $v = Find-MockVm $state ([guid]$VMNetworkAdapter.VMId)
    if (-not $v) { Throw-MockError 'The virtual machine no longer exists.' 'ObjectNotFound' 'ObjectNotFound' }
    if ($v.State -ne 'Off') {
        Throw-MockError "Failed to modify device 'Network Adapter': the MAC address cannot be changed while '$($v.Name)' is in its current state." 'InvalidState,Microsoft.HyperV.PowerShell.Commands.SetVMNetworkAdapter'
    }
    foreach ($a in @($v.Adapters)) {
        if ([string]$a.Id -ne [string]$VMNetworkAdapter.Id) { continue }
        if ($StaticMacAddress) { $a.MacAddress = $StaticMacAddress.ToUpperInvariant(); $a.DynamicMac = $false }
        if ($DynamicMacAddress) { $a.DynamicMac = $true }
    }
    Save-MockState $state
}

function Get-VMHost {
    [CmdletBinding()] param()
    $h = (Read-MockState).Host
    [pscustomobject]@{ PSTypeName = 'Microsoft.HyperV.PowerShell.VMHost'; ComputerName = [string]$h.Name; Name = [string]$h.Name
        MemoryCapacity = [long]$h.TotalMemoryBytes; LogicalProcessorCount = [int]$h.LogicalProcessorCount }
}

function Get-VMSwitch {
    [CmdletBinding()] param([Parameter(Position = 0)][string]$Name)
    foreach ($s in @((Read-MockState).Host.Switches)) {
        if ($Name -and -not ([string]$s -like $Name)) { continue }
        [pscustomobject]@{ PSTypeName = 'Microsoft.HyperV.PowerShell.VMSwitch'; Name = [string]$s; SwitchType = [MockHyperV.VMSwitchType]::External }
    }
}

function Get-VMHostSupportedVersion {
    [CmdletBinding()] param([switch]$Default)
    foreach ($v in @((Read-MockState).Host.SupportedVersions)) {
        [pscustomobject]@{ Name = "Version $v"; Version = [version]$v; IsDefault = $false }
    }
}

function Get-VMSnapshot {
    # Every mock checkpoint is a recovery snapshot; Id is the GUID of its InstanceID ("Microsoft:<GUID>").
    [CmdletBinding()]
    param([Parameter(Position = 0)][string[]]$VMName, [Parameter(ValueFromPipeline = $true)]$VM, [string]$SnapshotType)
    $state = Read-MockState
    if ($SnapshotType -and $SnapshotType -ne 'Recovery') { return }
    foreach ($v in (Resolve-MockVmArgument $state $VM $VMName)) {
        foreach ($s in @($v.Snapshots)) {
            [pscustomobject]@{ PSTypeName = 'Microsoft.HyperV.PowerShell.VMSnapshot'; Id = [guid]($s.InstanceID -replace '^Microsoft:', ''); Name = [string]$s.Name
                VMId = [guid]$v.Id; VMName = [string]$v.Name; SnapshotType = 'Recovery' }
        }
    }
}

function Rename-VMSnapshot {
    [CmdletBinding(SupportsShouldProcess = $true)]
    param([Parameter(ValueFromPipeline = $true)]$VMSnapshot, [Parameter(Mandatory = $true)][string]$NewName, [switch]$Passthru)
    if ($null -eq $VMSnapshot) { Throw-MockError 'StubNotImplemented: Rename-VMSnapshot is mocked only with -VMSnapshot' 'StubNotImplemented' }
    $state = Read-MockState
    $v = Find-MockVm $state ([guid]$VMSnapshot.VMId)
    $hit = $null
    foreach ($s in @($v.Snapshots)) { if ([guid]($s.InstanceID -replace '^Microsoft:', '') -eq [guid]$VMSnapshot.Id) { $hit = $s } }
    if ($null -eq $hit) { Throw-MockError "Hyper-V was unable to find the checkpoint '$($VMSnapshot.Name)'." 'ObjectNotFound' 'ObjectNotFound' }
    $hit.Name = $NewName
    Save-MockState $state
}
