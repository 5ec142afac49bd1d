# The mock's state: one JSON file in a folder. Reads resolve time-based transitions
# (Starting -> Running, Stopping -> Off, heartbeat arrival) from the clock, so states really pass
# through Starting/Stopping for as long as a real host would take (scaled down).
$script:MockStatePath = $env:MOCK_HYPERV_STATE
$script:MockJobs = @{}
$script:MockReports = @{}

function Set-MockHyperVState {
    # Points the mock at a state folder (created, with an empty host, when missing).
    param([Parameter(Mandatory = $true)][string]$Path)
    $script:MockStatePath = $Path
}

function Get-MockNow { [DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds() }

function Get-MockStateFile {
    if (-not $script:MockStatePath) { throw 'MockHyperV: no state folder (set MOCK_HYPERV_STATE or call Set-MockHyperVState)' }
    Join-Path $script:MockStatePath 'state.json'
}

function New-MockEmptyState {
    @{
        Host = @{ Name = 'MOCKHOST'; TotalMemoryBytes = [long]68719476736
            LogicalProcessorCount = 8; Switches = @('Production'); SupportedVersions = @('8.0', '9.0', '10.0', '11.0', '12.0')
            StartMs = 300; StopMs = 300; RctChunkBytes = [long]1048576; RctFail = $false }
        Vms = @(); RctLog = @{}; Seq = 0
    }
}

function Read-MockState {
    $file = Get-MockStateFile
    if (-not (Test-Path -LiteralPath $file)) { return New-MockEmptyState }
    $s = [IO.File]::ReadAllText($file) | ConvertFrom-Json -AsHashtable
    foreach ($vm in @($s.Vms)) { Update-MockVmClock $vm }
    $s
}

function Save-MockState {
    param([Parameter(Mandatory = $true)]$State)
    $file = Get-MockStateFile
    [void](New-Item -ItemType Directory -Force -Path (Split-Path -Parent $file))
    # A temp name of this process's own: two processes (the driver's session and a test's) may save at once.
    $tmp = "$file.$PID.$([guid]::NewGuid().ToString('N')).tmp"
    [IO.File]::WriteAllText($tmp, (ConvertTo-Json -InputObject $State -Depth 30), (New-Object Text.UTF8Encoding $false))
    Move-Item -LiteralPath $tmp -Destination $file -Force
}

function Update-MockVmClock {
    # Applies a pending transition whose time has come.
    param($Vm)
    $now = Get-MockNow
    if ($Vm.Transition -and $now -ge [long]$Vm.Transition.At) {
        $Vm.State = $Vm.Transition.To
        $Vm.Transition = $null
    }
}

function Get-MockHeartbeat {
    param($Vm)
    if ($Vm.State -ne 'Running') { return $null }
    if ($null -ne $Vm.HeartbeatAt -and (Get-MockNow) -ge [long]$Vm.HeartbeatAt) { return [MockHyperV.VMHeartbeatStatus]::OkApplicationsHealthy }
    [MockHyperV.VMHeartbeatStatus]::NoContact
}

function Get-MockFreeMemory {
    # Total minus the memory of every VM that is not Off or Saved.
    param($State)
    $used = [long]0
    foreach ($vm in @($State.Vms)) { if (@('Off', 'Saved') -notcontains $vm.State) { $used += [long]$vm.MemoryBytes } }
    [Math]::Max([long]0, [long]$State.Host.TotalMemoryBytes - $used)
}

function Find-MockVm {
    param($State, [guid]$Id)
    foreach ($vm in @($State.Vms)) { if ([guid]$vm.Id -eq $Id) { return $vm } }
    $null
}

function New-MockId { [guid]::NewGuid().ToString() }

function Throw-MockError {
    # A terminating error shaped like Hyper-V's (message, error id, category).
    param([string]$Message, [string]$ErrorId = 'OperationFailed', [System.Management.Automation.ErrorCategory]$Category = 'InvalidOperation')
    $ex = New-Object System.InvalidOperationException($Message)
    throw (New-Object System.Management.Automation.ErrorRecord($ex, $ErrorId, $Category, $null))
}
