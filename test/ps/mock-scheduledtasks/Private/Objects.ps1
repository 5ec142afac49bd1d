# The New-ScheduledTask* cmdlets: they only build objects (as the real ones do, client side).
# Parameter sets and names as in Microsoft's reference (see ScheduledTasks.psm1); types that are
# CDXML enums here are [string] with the documented values (ValidateSet), as the real binder would
# refuse any other; CimSession/ThrottleLimit/AsJob exist but are refused when used (no CIM here).

function Assert-MockLocalOnly {
    param([hashtable]$Bound, [string]$Cmdlet)
    foreach ($p in @('CimSession', 'AsJob', 'ThrottleLimit')) {
        if ($Bound.ContainsKey($p)) { throw "MockScheduledTasks: $Cmdlet -$p is not supported by the mock (vmmirror never uses it)" }
    }
}

function New-ScheduledTaskAction {
    [CmdletBinding()]
    param(
        [string]$Id,
        [Parameter(Mandatory = $true, Position = 0)][string]$Execute,
        [Parameter(Position = 1)][string]$Argument,
        [Parameter(Position = 2)][string]$WorkingDirectory,
        $CimSession, [int]$ThrottleLimit, [switch]$AsJob
    )
    Assert-MockLocalOnly $PSBoundParameters 'New-ScheduledTaskAction'
    $arg = $null; if ($PSBoundParameters.ContainsKey('Argument')) { $arg = $Argument }
    $wd = $null; if ($PSBoundParameters.ContainsKey('WorkingDirectory')) { $wd = $WorkingDirectory }
    $idValue = $null; if ($PSBoundParameters.ContainsKey('Id')) { $idValue = $Id }
    New-MockCimObject -ClassName 'MSFT_TaskExecAction' -Properties ([ordered]@{ Id = $idValue; Execute = $Execute; Arguments = $arg; WorkingDirectory = $wd })
}

function New-ScheduledTaskTrigger {
    [CmdletBinding(DefaultParameterSetName = 'Once')]
    param(
        [Parameter(ParameterSetName = 'Once', Mandatory = $true, Position = 0)][switch]$Once,
        [Parameter(ParameterSetName = 'Daily', Mandatory = $true, Position = 0)][switch]$Daily,
        [Parameter(ParameterSetName = 'Weekly', Mandatory = $true, Position = 0)][switch]$Weekly,
        [Parameter(ParameterSetName = 'Startup', Mandatory = $true, Position = 0)][switch]$AtStartup,
        [Parameter(ParameterSetName = 'Logon', Mandatory = $true, Position = 0)][switch]$AtLogOn,
        [Parameter(ParameterSetName = 'Once', Mandatory = $true)]
        [Parameter(ParameterSetName = 'Daily', Mandatory = $true)]
        [Parameter(ParameterSetName = 'Weekly', Mandatory = $true)][datetime]$At,
        [Parameter(ParameterSetName = 'Once')][timespan]$RepetitionDuration,
        [Parameter(ParameterSetName = 'Once')][timespan]$RepetitionInterval,
        [Parameter(ParameterSetName = 'Daily')][uint32]$DaysInterval,
        [Parameter(ParameterSetName = 'Weekly')][DayOfWeek[]]$DaysOfWeek,
        [Parameter(ParameterSetName = 'Weekly')][uint32]$WeeksInterval,
        [Parameter(ParameterSetName = 'Logon')][string]$User,
        [timespan]$RandomDelay,
        $CimSession, [int]$ThrottleLimit, [switch]$AsJob
    )
    Assert-MockLocalOnly $PSBoundParameters 'New-ScheduledTaskTrigger'
    if (@('Daily', 'Weekly', 'Logon') -contains $PSCmdlet.ParameterSetName) {
        throw "MockScheduledTasks: New-ScheduledTaskTrigger -$($PSCmdlet.ParameterSetName) is not implemented (vmmirror never uses it)"
    }
    $interval = $null; $duration = $null
    if ($PSBoundParameters.ContainsKey('RepetitionInterval')) { $interval = ConvertTo-MockDuration $RepetitionInterval }
    if ($PSBoundParameters.ContainsKey('RepetitionDuration')) { $duration = ConvertTo-MockDuration $RepetitionDuration }
    $repetition = New-MockCimObject -ClassName 'MSFT_TaskRepetitionPattern' -Properties ([ordered]@{ Duration = $duration; Interval = $interval; StopAtDurationEnd = $false })
    $random = $null; if ($PSBoundParameters.ContainsKey('RandomDelay')) { $random = ConvertTo-MockDuration $RandomDelay }
    if ($PSCmdlet.ParameterSetName -eq 'Startup') {
        return New-MockCimObject -ClassName 'MSFT_TaskBootTrigger' -Properties ([ordered]@{
            Enabled = $true; EndBoundary = $null; ExecutionTimeLimit = $null; Id = $null; Repetition = $repetition; StartBoundary = $null; Delay = $random })
    }
    New-MockCimObject -ClassName 'MSFT_TaskTimeTrigger' -Properties ([ordered]@{
        Enabled = $true; EndBoundary = $null; ExecutionTimeLimit = $null; Id = $null; Repetition = $repetition
        StartBoundary = $At.ToString('yyyy-MM-ddTHH:mm:ss'); RandomDelay = $random })
}

function New-ScheduledTaskPrincipal {
    [CmdletBinding(DefaultParameterSetName = 'User')]
    param(
        [Parameter(ParameterSetName = 'User', Mandatory = $true, Position = 0)][string]$UserId,
        [Parameter(ParameterSetName = 'Group', Mandatory = $true, Position = 0)][string]$GroupId,
        [Parameter(ParameterSetName = 'User', Position = 1)]
        [ValidateSet('None', 'Password', 'S4U', 'Interactive', 'Group', 'ServiceAccount', 'InteractiveOrPassword')][string]$LogonType,
        [Parameter(Position = 2)][ValidateSet('Limited', 'Highest')][string]$RunLevel,
        [Parameter(Position = 3)][ValidateSet('None', 'Unrestricted', 'Default')][string]$ProcessTokenSidType,
        [Parameter(Position = 4)][string[]]$RequiredPrivilege,
        [Parameter(Position = 5)][string]$Id,
        $CimSession, [int]$ThrottleLimit, [switch]$AsJob
    )
    Assert-MockLocalOnly $PSBoundParameters 'New-ScheduledTaskPrincipal'
    $props = [ordered]@{ DisplayName = $null; GroupId = $null; Id = 'Author'; LogonType = 'Interactive'; RunLevel = 'Limited'; UserId = $null
        ProcessTokenSidType = 'Default'; RequiredPrivilege = $null }
    foreach ($k in @('UserId', 'GroupId', 'LogonType', 'RunLevel', 'ProcessTokenSidType', 'Id')) {
        if ($PSBoundParameters.ContainsKey($k)) { $props[$k] = [string]$PSBoundParameters[$k] }
    }
    if ($PSBoundParameters.ContainsKey('RequiredPrivilege')) { $props.RequiredPrivilege = @($RequiredPrivilege) }
    if ($PSCmdlet.ParameterSetName -eq 'Group') { $props.LogonType = 'Group' }
    New-MockCimObject -ClassName 'MSFT_TaskPrincipal2' -Properties $props
}

function New-ScheduledTaskSettingsSet {
    [CmdletBinding()]
    param(
        [switch]$DisallowDemandStart, [switch]$DisallowHardTerminate,
        [ValidateSet('At', 'V1', 'Vista', 'Win7', 'Win8')][string]$Compatibility,
        [timespan]$DeleteExpiredTaskAfter, [switch]$AllowStartIfOnBatteries, [switch]$Disable, [switch]$MaintenanceExclusive,
        [switch]$Hidden, [switch]$RunOnlyIfIdle, [timespan]$IdleWaitTimeout, [string]$NetworkId, [string]$NetworkName,
        [switch]$DisallowStartOnRemoteAppSession, [timespan]$MaintenancePeriod, [timespan]$MaintenanceDeadline,
        [switch]$StartWhenAvailable, [switch]$DontStopIfGoingOnBatteries, [switch]$WakeToRun, [timespan]$IdleDuration,
        [switch]$RestartOnIdle, [switch]$DontStopOnIdleEnd, [timespan]$ExecutionTimeLimit,
        [ValidateSet('Parallel', 'Queue', 'IgnoreNew', 'StopExisting')][string]$MultipleInstances,
        [int]$Priority, [int]$RestartCount, [timespan]$RestartInterval, [switch]$RunOnlyIfNetworkAvailable,
        $CimSession, [int]$ThrottleLimit, [switch]$AsJob
    )
    Assert-MockLocalOnly $PSBoundParameters 'New-ScheduledTaskSettingsSet'
    # Task Scheduler's defaults (TaskSettings reference): 72 h limit, priority 7, IgnoreNew, no restart.
    $limit = 'PT72H'; if ($PSBoundParameters.ContainsKey('ExecutionTimeLimit')) { $limit = ConvertTo-MockDuration $ExecutionTimeLimit }
    $multiple = 'IgnoreNew'; if ($PSBoundParameters.ContainsKey('MultipleInstances')) { $multiple = $MultipleInstances }
    $prio = 7; if ($PSBoundParameters.ContainsKey('Priority')) { $prio = $Priority }
    $count = 0; if ($PSBoundParameters.ContainsKey('RestartCount')) { $count = $RestartCount }
    $restart = $null; if ($PSBoundParameters.ContainsKey('RestartInterval')) { $restart = ConvertTo-MockDuration $RestartInterval }
    $compat = 'Vista'; if ($PSBoundParameters.ContainsKey('Compatibility')) { $compat = $Compatibility }
    New-MockCimObject -ClassName 'MSFT_TaskSettings3' -Properties ([ordered]@{
        AllowDemandStart = (-not $DisallowDemandStart); AllowHardTerminate = (-not $DisallowHardTerminate); Compatibility = $compat
        DisallowStartIfOnBatteries = (-not $AllowStartIfOnBatteries); Enabled = (-not $Disable); ExecutionTimeLimit = $limit
        Hidden = [bool]$Hidden; MultipleInstances = $multiple; Priority = $prio; RestartCount = $count; RestartInterval = $restart
        RunOnlyIfIdle = [bool]$RunOnlyIfIdle; RunOnlyIfNetworkAvailable = [bool]$RunOnlyIfNetworkAvailable
        StartWhenAvailable = [bool]$StartWhenAvailable; StopIfGoingOnBatteries = (-not $DontStopIfGoingOnBatteries)
        WakeToRun = [bool]$WakeToRun; DisallowStartOnRemoteAppSession = [bool]$DisallowStartOnRemoteAppSession })
}
