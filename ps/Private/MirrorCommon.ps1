# Shared helpers for the vmmirror driver scripts (dot-sourced by every ps/*.ps1).
# Runs on Windows PowerShell 5.1 and PowerShell 7: no ternary, '??', '&&', -AsHashtable, -Parallel.

$script:MirrorNamespace = 'root\virtualization\v2'

function ConvertFrom-MirrorInput {
    # Decodes the one argument every script takes: base64 of UTF-8 JSON. Never evaluated as code.
    param([Parameter(Mandatory = $true)][AllowEmptyString()][string]$InputBase64)
    $bytes = [Convert]::FromBase64String($InputBase64)
    $text = (New-Object System.Text.UTF8Encoding($false)).GetString($bytes)
    if (-not $text) { return New-Object PSObject }
    ConvertFrom-Json -InputObject $text
}

function ConvertTo-MirrorAsciiJson {
    # JSON with every non-ASCII character escaped as \uXXXX, so no console code page can mangle it.
    param([Parameter(Mandatory = $true)]$InputObject)
    $json = ConvertTo-Json -InputObject $InputObject -Depth 10 -Compress
    [regex]::Replace($json, '[^\x20-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value })
}

function Write-MirrorResult {
    # The one success object a script writes.
    param([AllowNull()]$Result)
    Write-Output (ConvertTo-MirrorAsciiJson -InputObject @{ Ok = $true; Result = $Result })
}

function New-MirrorException {
    # An exception carrying a vmmirror error code (and optional details) to the script's catch.
    param([Parameter(Mandatory = $true)][string]$Code, [Parameter(Mandatory = $true)][string]$Message, $Details)
    $e = New-Object System.Exception($Message)
    $e.Data['MirrorCode'] = $Code
    if ($null -ne $Details) { $e.Data['MirrorDetails'] = $Details }
    $e
}

function Write-MirrorError {
    # The one error object a script writes: a vmmirror code, or HYPERVISOR_ERROR with the platform's text.
    param([Parameter(Mandatory = $true)]$ErrorRecord)
    $ex = $ErrorRecord.Exception
    while ($ex -is [System.Management.Automation.MethodInvocationException] -and $null -ne $ex.InnerException) {
        $ex = $ex.InnerException
    }
    $code = 'HYPERVISOR_ERROR'
    $details = $null
    if ($ex.Data.Contains('MirrorCode')) {
        $code = [string]$ex.Data['MirrorCode']
        if ($ex.Data.Contains('MirrorDetails')) { $details = $ex.Data['MirrorDetails'] }
    }
    $err = @{ Code = $code; Message = [string]$ex.Message; PlatformMessage = [string]$ex.Message }
    if ($ErrorRecord.FullyQualifiedErrorId) { $err.FullyQualifiedErrorId = [string]$ErrorRecord.FullyQualifiedErrorId }
    if ($ErrorRecord.ScriptStackTrace) { $err.ScriptStackTrace = [string]$ErrorRecord.ScriptStackTrace }
    if ($null -ne $details) { $err.Details = $details }
    Write-Output (ConvertTo-MirrorAsciiJson -InputObject @{ Ok = $false; Error = $err })
}

function ConvertTo-MirrorGuid {
    # Validates a VM id: only a GUID ever reaches a cmdlet or a WQL filter.
    param([AllowNull()]$Value, [string]$What = 'VmId')
    $g = [guid]::Empty
    if ($null -eq $Value -or -not [guid]::TryParse([string]$Value, [ref]$g)) {
        throw (New-MirrorException -Code 'HYPERVISOR_ERROR' -Message "$What is not a GUID")
    }
    $g
}

function Get-MirrorVmById {
    # One VM by GUID, or a VM_NOT_FOUND error. A failed lookup is told apart from other errors by listing.
    param([Parameter(Mandatory = $true)][guid]$Id)
    $lookupErrors = $null
    $vm = Hyper-V\Get-VM -Id $Id -ErrorAction SilentlyContinue -ErrorVariable lookupErrors
    if ($null -ne $vm) { return $vm }
    $found = @(Hyper-V\Get-VM | Where-Object { $_.Id -eq $Id })
    if ($found.Count -gt 0) { return $found[0] }
    throw (New-MirrorException -Code 'VM_NOT_FOUND' -Message "No VM with id $Id")
}

function ConvertTo-MirrorMac {
    # 12 upper-case hex digits; anything else is refused.
    param([AllowNull()][string]$Mac)
    if ($null -eq $Mac) { return '' }
    $clean = ($Mac -replace '[-:.]', '').ToUpperInvariant()
    $clean
}

function Get-MirrorVmDrives {
    # A VM's drives in the one order vmmirror uses everywhere (export, register, VmInfo.disks).
    param([Parameter(Mandatory = $true)]$Vm)
    @(Hyper-V\Get-VMHardDiskDrive -VM $Vm | Sort-Object -Property @{ Expression = { $_.ControllerType.ToString() } }, ControllerNumber, ControllerLocation)
}

function ConvertTo-MirrorVmInfo {
    # The VM shape every script returns; enums become strings here and nowhere else. Disks and
    # adapters are looked up with -VM (the object), never -VMName, which takes wildcards.
    param([Parameter(Mandatory = $true)]$Vm)
    $disks = New-Object System.Collections.ArrayList
    foreach ($d in @(Get-MirrorVmDrives -Vm $Vm)) {
        if (-not $d.Path) { continue }
        # A drive vmmirror cannot read (pass-through, missing or busy VHDX) is reported on its own
        # (Problem), never a failure of the whole VM, so one bad drive cannot hide every other VM.
        $problem = $null
        if ($null -ne $d.DiskNumber) { $problem = "pass-through disk (physical disk $($d.DiskNumber)): not a VHDX vmmirror can replicate" }
        else {
            try {
                $vhd = Hyper-V\Get-VHD -Path $d.Path
                $base = $vhd
                $guard = 0
                while ($base.ParentPath -and $guard -lt 64) { $base = Hyper-V\Get-VHD -Path $base.ParentPath; $guard++ }
            } catch { $problem = "Get-VHD failed: $($_.Exception.Message)" }
        }
        if ($null -ne $problem) {
            [void]$disks.Add(@{ Path = [string]$d.Path; BasePath = [string]$d.Path; Format = 'Other'; Type = 'Unknown'
                ControllerType = $d.ControllerType.ToString(); ControllerNumber = [int]$d.ControllerNumber; ControllerLocation = [int]$d.ControllerLocation
                SizeBytes = [uint64]0; FileSizeBytes = [uint64]0; Problem = $problem })
            continue
        }
        [void]$disks.Add(@{
            Path = [string]$d.Path; BasePath = [string]$base.Path
            Format = $vhd.VhdFormat.ToString(); Type = $vhd.VhdType.ToString()
            ControllerType = $d.ControllerType.ToString()
            ControllerNumber = [int]$d.ControllerNumber; ControllerLocation = [int]$d.ControllerLocation
            SizeBytes = [uint64]$vhd.Size; FileSizeBytes = [uint64]$vhd.FileSize
        })
    }
    $adapters = New-Object System.Collections.ArrayList
    foreach ($a in @(Hyper-V\Get-VMNetworkAdapter -VM $Vm)) {
        $switch = $null
        if ($a.SwitchName) { $switch = [string]$a.SwitchName }
        [void]$adapters.Add(@{ Name = [string]$a.Name; MacAddress = (ConvertTo-MirrorMac $a.MacAddress)
            DynamicMac = [bool]$a.DynamicMacAddressEnabled; SwitchName = $switch })
    }
    $heartbeat = $null
    if ($null -ne $Vm.Heartbeat) { $heartbeat = $Vm.Heartbeat.ToString() }
    @{
        Id = $Vm.Id.ToString(); Name = [string]$Vm.Name; State = $Vm.State.ToString(); Heartbeat = $heartbeat
        MemoryBytes = [uint64]$Vm.MemoryStartup; ProcessorCount = [int]$Vm.ProcessorCount
        ConfigurationVersion = [string]$Vm.Version; Generation = [int]$Vm.Generation
        Disks = @($disks.ToArray()); NetworkAdapters = @($adapters.ToArray())
    }
}

function Wait-MirrorVmState {
    # Polls a VM until its state is one of $States; VM_TIMEOUT past the deadline. With -Job (a
    # Start-VM/Stop-VM -AsJob), a failed job ends the wait with the job's own error, and a cmdlet
    # that blocks (a guest that ignores shutdown) cannot hold the script past its deadline.
    param([Parameter(Mandatory = $true)][guid]$Id, [Parameter(Mandatory = $true)][string[]]$States,
          [Parameter(Mandatory = $true)][datetime]$Deadline, [switch]$Heartbeat, $Job)
    while ($true) {
        if ($null -ne $Job -and @('Failed', 'Stopped') -contains $Job.State.ToString()) {
            [void](Receive-Job -Job $Job -ErrorAction Stop)
            throw (New-MirrorException -Code 'HYPERVISOR_ERROR' -Message "The Hyper-V job ended $($Job.State.ToString())")
        }
        $vm = Get-MirrorVmById -Id $Id
        $state = $vm.State.ToString()
        $beat = ''
        if ($null -ne $vm.Heartbeat) { $beat = $vm.Heartbeat.ToString() }
        if ($States -contains $state) {
            if (-not $Heartbeat -or $beat -like 'Ok*') {
                if ($null -ne $Job) { Remove-Job -Job $Job -Force -ErrorAction SilentlyContinue }
                return $vm
            }
        }
        if ([DateTime]::UtcNow -ge $Deadline) {
            throw (New-MirrorException -Code 'VM_TIMEOUT' -Message "VM $Id did not reach $($States -join '/') in time (state $state, heartbeat $beat)")
        }
        Start-Sleep -Milliseconds 100
    }
}

function Get-MirrorDeadline {
    # The UTC deadline for a script's waits, from its TimeoutMs input (default 60 s).
    param($TimeoutMs)
    $ms = 60000
    if ($null -ne $TimeoutMs) { $ms = [double]$TimeoutMs }
    [DateTime]::UtcNow.AddMilliseconds($ms)
}

function Wait-MirrorCimJob {
    # Completes a Msvm method result: 0 = done, 4096 = poll the job until it ends. CIM_ConcreteJob
    # JobState 7 (Completed) and 32768 (Completed with warnings: e.g. a checkpoint whose guest
    # writers complained) are both success; anything else is a failure.
    param([Parameter(Mandatory = $true)]$Result, [Parameter(Mandatory = $true)][datetime]$Deadline, [string]$What = 'WMI call', [string]$FailCode = 'HYPERVISOR_ERROR')
    $rv = [int]$Result.ReturnValue
    if ($rv -eq 0) { return $null }
    if ($rv -ne 4096) {
        throw (New-MirrorException -Code $FailCode -Message "$What failed: ReturnValue $rv" -Details @{ ReturnValue = $rv })
    }
    $job = Get-CimInstance -InputObject $Result.Job
    while (@(2, 3, 4, 5, 6) -contains [int]$job.JobState) {
        if ([DateTime]::UtcNow -ge $Deadline) {
            throw (New-MirrorException -Code 'VM_TIMEOUT' -Message "$What did not finish in time")
        }
        Start-Sleep -Milliseconds 100
        $job = Get-CimInstance -InputObject $job
    }
    if (@(7, 32768) -notcontains [int]$job.JobState) {
        throw (New-MirrorException -Code $FailCode -Message "$What failed: job state $($job.JobState): $($job.ErrorDescription) ($($job.ErrorCode))" -Details @{ JobState = [int]$job.JobState; ErrorCode = [int]$job.ErrorCode })
    }
    $job
}
