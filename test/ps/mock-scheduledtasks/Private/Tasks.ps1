# Register/Get/Set/Unregister/Stop-ScheduledTask over the state file. Parameter sets and names as in
# Microsoft's reference (see ScheduledTasks.psm1). Positions are kept only where the reference gives
# one unambiguous position (TaskName 0, TaskPath 1, Action 2): vmmirror passes everything by name.
# Validation the service does on registration is reproduced where vmmirror could trip it: a task
# path must be '\...\', RestartInterval and repetition intervals must lie in PT1M..P31D, a restart
# count needs an interval, and an existing task is only replaced with -Force.

function Get-MockTaskKey {
    param([AllowNull()][string]$TaskPath, [Parameter(Mandatory = $true)][string]$TaskName)
    if (-not $TaskPath) { $TaskPath = '\' }
    if (-not ($TaskPath.StartsWith('\') -and $TaskPath.EndsWith('\'))) {
        throw "MockScheduledTasks: TaskPath '$TaskPath' must begin and end with '\' (as Task Scheduler's folders do)"
    }
    if ($TaskName -match '[\\/]' -or -not $TaskName) { throw "MockScheduledTasks: invalid task name '$TaskName'" }
    "$TaskPath$TaskName"
}

function Assert-MockTaskDuration {
    # The service refuses an interval outside PT1M..P31D ("incorrectly formatted or out of range").
    param([AllowNull()][string]$Value, [string]$What)
    if (-not $Value) { return }
    $t = [System.Xml.XmlConvert]::ToTimeSpan($Value)
    if ($t -lt [TimeSpan]::FromMinutes(1) -or $t -gt [TimeSpan]::FromDays(31)) {
        throw "The task XML contains a value which is incorrectly formatted or out of range. ($What = $Value)"
    }
}

function Assert-MockTaskDefinition {
    param($Settings, $Triggers)
    if ($null -ne $Settings) {
        if ([int]$Settings.RestartCount -gt 0 -and -not $Settings.RestartInterval) {
            throw 'The task XML is missing a required element or attribute. (RestartOnFailure needs Interval and Count)'
        }
        Assert-MockTaskDuration -Value $Settings.RestartInterval -What 'RestartInterval'
    }
    foreach ($t in @($Triggers)) {
        if ($null -eq $t -or $null -eq $t.Repetition) { continue }
        Assert-MockTaskDuration -Value $t.Repetition.Interval -What 'Repetition.Interval'
        if ($t.Repetition.Duration -and -not $t.Repetition.Interval) { throw 'The task XML contains a value which is incorrectly formatted or out of range. (Duration without Interval)' }
    }
}

function Get-MockTaskObject {
    param([Parameter(Mandatory = $true)][System.Collections.IDictionary]$Data)
    ConvertFrom-MockTaskData -Value $Data
}

function Register-ScheduledTask {
    [CmdletBinding(DefaultParameterSetName = 'User')]
    param(
        [switch]$Force,
        [Parameter(ParameterSetName = 'User')][Parameter(ParameterSetName = 'Xml')][Parameter(ParameterSetName = 'Object')][string]$Password,
        [Parameter(ParameterSetName = 'User')][Parameter(ParameterSetName = 'Xml')][Parameter(ParameterSetName = 'Object')][string]$User,
        [Parameter(ParameterSetName = 'User', Mandatory = $true, Position = 0)]
        [Parameter(ParameterSetName = 'Xml', Mandatory = $true, Position = 0)]
        [Parameter(ParameterSetName = 'Principal', Mandatory = $true, Position = 0)]
        [Parameter(ParameterSetName = 'Object', Position = 0)][string]$TaskName,
        [Parameter(Position = 1)][string]$TaskPath,
        [Parameter(ParameterSetName = 'User', Mandatory = $true, Position = 2)]
        [Parameter(ParameterSetName = 'Principal', Mandatory = $true, Position = 2)][object[]]$Action,
        [Parameter(ParameterSetName = 'User')][Parameter(ParameterSetName = 'Principal')][string]$Description,
        [Parameter(ParameterSetName = 'User')][Parameter(ParameterSetName = 'Principal')][object]$Settings,
        [Parameter(ParameterSetName = 'User')][Parameter(ParameterSetName = 'Principal')][object[]]$Trigger,
        [Parameter(ParameterSetName = 'User')][ValidateSet('Limited', 'Highest')][string]$RunLevel,
        [Parameter(ParameterSetName = 'Principal')][object]$Principal,
        [Parameter(ParameterSetName = 'Xml', Mandatory = $true)][string]$Xml,
        [Parameter(ParameterSetName = 'Object', Mandatory = $true, ValueFromPipeline = $true)][object]$InputObject,
        $CimSession, [int]$ThrottleLimit, [switch]$AsJob
    )
    Assert-MockLocalOnly $PSBoundParameters 'Register-ScheduledTask'
    Add-MockTaskCall -Cmdlet 'Register-ScheduledTask' -Bound $PSBoundParameters
    if (@('Xml', 'Object') -contains $PSCmdlet.ParameterSetName) { throw "MockScheduledTasks: Register-ScheduledTask -$($PSCmdlet.ParameterSetName) is not implemented" }
    $key = Get-MockTaskKey -TaskPath $TaskPath -TaskName $TaskName
    $s = Read-MockTaskStore
    $state = 'Ready'
    if ($s.Tasks.ContainsKey($key)) {
        if (-not $Force) { throw "Cannot create a file when that file already exists. (task $key)" }
        $state = [string]$s.Tasks[$key].State
    }
    if ($null -eq $Settings) { $Settings = New-ScheduledTaskSettingsSet }
    if ($PSCmdlet.ParameterSetName -eq 'User') {
        $uid = 'MOCKHOST\tester'; if ($User) { $uid = $User }
        $rl = 'Limited'; if ($RunLevel) { $rl = $RunLevel }
        $Principal = New-ScheduledTaskPrincipal -UserId $uid -LogonType Interactive -RunLevel $rl
    }
    Assert-MockTaskDefinition -Settings $Settings -Triggers $Trigger
    $path = '\'; if ($TaskPath) { $path = $TaskPath }
    $desc = $null; if ($PSBoundParameters.ContainsKey('Description')) { $desc = $Description }
    $task = New-MockCimObject -ClassName 'MSFT_ScheduledTask' -Properties ([ordered]@{
        Actions = @($Action); Author = $null; Date = $null; Description = $desc; Principal = $Principal; Settings = $Settings
        State = $state; TaskName = $TaskName; TaskPath = $path; Triggers = @($Trigger); URI = $key })
    $s.Tasks[$key] = ConvertTo-MockTaskData -Value $task
    Save-MockTaskStore -Store $s
    Get-MockTaskObject -Data $s.Tasks[$key]
}

function Get-ScheduledTask {
    [CmdletBinding()]
    param(
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = $true)][string[]]$TaskName,
        [Parameter(Position = 1, ValueFromPipelineByPropertyName = $true)][string[]]$TaskPath,
        $CimSession, [int]$ThrottleLimit, [switch]$AsJob
    )
    Assert-MockLocalOnly $PSBoundParameters 'Get-ScheduledTask'
    $s = Read-MockTaskStore
    $names = @('*'); if ($TaskName) { $names = $TaskName }
    $paths = @('*'); if ($TaskPath) { $paths = $TaskPath }
    $found = @()
    foreach ($key in @($s.Tasks.Keys | Sort-Object)) {
        $t = $s.Tasks[$key]
        $nameOk = @($names | Where-Object { [string]$t.TaskName -like $_ }).Count -gt 0
        $pathOk = @($paths | Where-Object { [string]$t.TaskPath -like $_ }).Count -gt 0
        if ($nameOk -and $pathOk) { $found += , (Get-MockTaskObject -Data $t) }
    }
    if ($found.Count -eq 0) {
        # The real CDXML cmdlet writes a non-terminating ObjectNotFound error (a CimException).
        $ex = New-Object System.Management.Automation.ItemNotFoundException("No MSFT_ScheduledTask objects found with property 'TaskName' equal to '$($names -join ',')'.  Verify the value of the property and retry.")
        $record = New-Object System.Management.Automation.ErrorRecord($ex, 'CmdletizationQuery_NotFound_TaskName,Get-ScheduledTask', 'ObjectNotFound', $TaskName)
        $PSCmdlet.WriteError($record)
        return
    }
    $found
}

function Set-ScheduledTask {
    [CmdletBinding(DefaultParameterSetName = 'User')]
    param(
        [Parameter(ParameterSetName = 'User')][Parameter(ParameterSetName = 'Object')][string]$Password,
        [Parameter(ParameterSetName = 'User')][Parameter(ParameterSetName = 'Object')][string]$User,
        [Parameter(ParameterSetName = 'User')][Parameter(ParameterSetName = 'Principal')][object[]]$Action,
        [Parameter(ParameterSetName = 'User')][Parameter(ParameterSetName = 'Principal')][string]$TaskPath,
        [Parameter(ParameterSetName = 'User')][Parameter(ParameterSetName = 'Principal')][object]$Settings,
        [Parameter(ParameterSetName = 'User')][Parameter(ParameterSetName = 'Principal')][object[]]$Trigger,
        [Parameter(ParameterSetName = 'User', Mandatory = $true, Position = 0)]
        [Parameter(ParameterSetName = 'Principal', Mandatory = $true, Position = 0)][string]$TaskName,
        [Parameter(ParameterSetName = 'Principal')][object]$Principal,
        [Parameter(ParameterSetName = 'Object', Mandatory = $true, ValueFromPipeline = $true)][object]$InputObject,
        $CimSession, [int]$ThrottleLimit, [switch]$AsJob
    )
    Assert-MockLocalOnly $PSBoundParameters 'Set-ScheduledTask'
    Add-MockTaskCall -Cmdlet 'Set-ScheduledTask' -Bound $PSBoundParameters
    if ($PSCmdlet.ParameterSetName -eq 'Object') { throw 'MockScheduledTasks: Set-ScheduledTask -InputObject is not implemented' }
    $key = Get-MockTaskKey -TaskPath $TaskPath -TaskName $TaskName
    $s = Read-MockTaskStore
    if (-not $s.Tasks.ContainsKey($key)) { throw "The system cannot find the file specified. (task $key)" }
    $task = Get-MockTaskObject -Data $s.Tasks[$key]
    if ($PSBoundParameters.ContainsKey('Action')) { $task.Actions = @($Action) }
    if ($PSBoundParameters.ContainsKey('Trigger')) { $task.Triggers = @($Trigger) }
    if ($PSBoundParameters.ContainsKey('Settings')) { $task.Settings = $Settings }
    if ($PSBoundParameters.ContainsKey('Principal')) { $task.Principal = $Principal }
    Assert-MockTaskDefinition -Settings $task.Settings -Triggers $task.Triggers
    $s.Tasks[$key] = ConvertTo-MockTaskData -Value $task
    Save-MockTaskStore -Store $s
    Get-MockTaskObject -Data $s.Tasks[$key]
}

function Unregister-ScheduledTask {
    [CmdletBinding(DefaultParameterSetName = 'ByPath', SupportsShouldProcess = $true, ConfirmImpact = 'High')]
    param(
        [Parameter(ParameterSetName = 'ByPath', Position = 0)][string[]]$TaskName,
        [Parameter(ParameterSetName = 'ByPath', Position = 1)][string[]]$TaskPath,
        [Parameter(ParameterSetName = 'InputObject', Mandatory = $true, ValueFromPipeline = $true)][object[]]$InputObject,
        [switch]$PassThru,
        $CimSession, [int]$ThrottleLimit, [switch]$AsJob
    )
    Assert-MockLocalOnly $PSBoundParameters 'Unregister-ScheduledTask'
    Add-MockTaskCall -Cmdlet 'Unregister-ScheduledTask' -Bound $PSBoundParameters
    if ($PSCmdlet.ParameterSetName -eq 'InputObject') { throw 'MockScheduledTasks: Unregister-ScheduledTask -InputObject is not implemented' }
    $s = Read-MockTaskStore
    $names = @('*'); if ($TaskName) { $names = $TaskName }
    $paths = @('*'); if ($TaskPath) { $paths = $TaskPath }
    $keys = @($s.Tasks.Keys | Where-Object {
        $t = $s.Tasks[$_]
        (@($names | Where-Object { [string]$t.TaskName -like $_ }).Count -gt 0) -and (@($paths | Where-Object { [string]$t.TaskPath -like $_ }).Count -gt 0)
    })
    if ($keys.Count -eq 0) { throw "No MSFT_ScheduledTask objects found with property 'TaskName' equal to '$($names -join ',')'." }
    foreach ($key in $keys) {
        # ConfirmImpact High: without -Confirm:$false this prompts, which fails in a non-interactive session.
        if (-not $PSCmdlet.ShouldProcess($key, 'Unregister')) { continue }
        $removed = Get-MockTaskObject -Data $s.Tasks[$key]
        $s.Tasks.Remove($key)
        Save-MockTaskStore -Store $s
        if ($PassThru) { $removed }
    }
}

function Stop-ScheduledTask {
    [CmdletBinding(DefaultParameterSetName = 'Path')]
    param(
        [Parameter(ParameterSetName = 'Path', Position = 1)][string]$TaskPath,
        [Parameter(ParameterSetName = 'Path', Mandatory = $true, Position = 0)][string]$TaskName,
        [Parameter(ParameterSetName = 'Object', Mandatory = $true, Position = 1, ValueFromPipeline = $true)][object]$InputObject,
        $CimSession, [int]$ThrottleLimit, [switch]$AsJob
    )
    Assert-MockLocalOnly $PSBoundParameters 'Stop-ScheduledTask'
    Add-MockTaskCall -Cmdlet 'Stop-ScheduledTask' -Bound $PSBoundParameters
    if ($PSCmdlet.ParameterSetName -eq 'Object') { throw 'MockScheduledTasks: Stop-ScheduledTask -InputObject is not implemented' }
    $key = Get-MockTaskKey -TaskPath $TaskPath -TaskName $TaskName
    $s = Read-MockTaskStore
    if (-not $s.Tasks.ContainsKey($key)) { throw "The system cannot find the file specified. (task $key)" }
    if ([string]$s.Tasks[$key].State -eq 'Running') { $s.Tasks[$key].State = 'Ready' }
    Save-MockTaskStore -Store $s
}
