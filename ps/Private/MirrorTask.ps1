# Shared helpers of Install-MirrorAgentTask.ps1 and Uninstall-MirrorAgentTask.ps1 (dot-sourced after
# MirrorCommon.ps1). Runs on Windows PowerShell 5.1 and PowerShell 7. docs/agent.md, "Scheduled task",
# says what is registered and why each setting.

$script:MirrorTaskPath = '\vmmirror\'
# A fixed start for the watchdog's time trigger: a start taken from the clock would make every
# install differ from the last (never idempotent). Task Scheduler repeats the trigger from this
# instant every interval for ever (no RepetitionDuration), and StartWhenAvailable runs the start
# it "missed" right after registration, so the agent comes up within a minute of install.
$script:MirrorWatchdogStart = New-Object DateTime(2000, 1, 1, 0, 0, 0)

function Import-MirrorScheduledTasks {
    # The ScheduledTasks module (Windows 8 / Server 2012 and later). Missing: not a Windows host.
    if (-not (Get-Module -Name ScheduledTasks)) { Import-Module -Name ScheduledTasks -ErrorAction SilentlyContinue }
    if (-not (Get-Module -Name ScheduledTasks)) {
        throw (New-MirrorException -Code 'TASK_SCHEDULER_UNAVAILABLE' -Message 'The ScheduledTasks PowerShell module is not available on this host (Windows Task Scheduler is needed to install the agent task)')
    }
}

function Assert-MirrorTaskText {
    # A path or name that goes into a task definition. Task Scheduler expands %NAME% in an action's
    # program, arguments and working directory and has no escape for '%', so a value holding one
    # could not be passed as data: it is refused. Control characters would end the command line.
    param([AllowNull()]$Value, [Parameter(Mandatory = $true)][string]$What, [switch]$Rooted, [switch]$NoQuote)
    if ($null -eq $Value -or -not ($Value -is [string]) -or $Value.Length -eq 0) {
        throw (New-MirrorException -Code 'USAGE' -Message "$What must be a non-empty string")
    }
    if ($Value -match '[\x00-\x1f\x7f]') { throw (New-MirrorException -Code 'USAGE' -Message "$What holds a control character") }
    if ($Value.Contains('%')) { throw (New-MirrorException -Code 'USAGE' -Message "$What holds '%', which Task Scheduler would expand as an environment variable: $Value") }
    if ($NoQuote -and $Value.Contains('"')) { throw (New-MirrorException -Code 'USAGE' -Message "$What holds a double quote: $Value") }
    if ($Rooted -and -not [System.IO.Path]::IsPathRooted($Value)) { throw (New-MirrorException -Code 'USAGE' -Message "$What must be an absolute path: $Value") }
    $Value
}

function ConvertTo-MirrorCommandLineArgument {
    # One argument quoted for the Windows command line as node (the MSVC runtime's rules,
    # CommandLineToArgvW) splits it: always in double quotes; a quote is escaped with a backslash;
    # backslashes are doubled only where they precede a quote (or the closing quote). The value
    # is data: nothing in it is interpreted by Task Scheduler (no '%', checked above) or a shell.
    param([Parameter(Mandatory = $true)][string]$Value)
    $sb = New-Object System.Text.StringBuilder
    [void]$sb.Append('"')
    $backslashes = 0
    foreach ($ch in $Value.ToCharArray()) {
        if ($ch -eq [char]'\') { $backslashes++; continue }
        if ($ch -eq [char]'"') { [void]$sb.Append([char]'\', 2 * $backslashes + 1) }
        elseif ($backslashes -gt 0) { [void]$sb.Append([char]'\', $backslashes) }
        [void]$sb.Append($ch)
        $backslashes = 0
    }
    if ($backslashes -gt 0) { [void]$sb.Append([char]'\', 2 * $backslashes) }
    [void]$sb.Append('"')
    $sb.ToString()
}

function Get-MirrorTaskSpecs {
    # The two tasks: the agent, and the guard (its own task: Task Scheduler runs a task's actions one
    # after the other, so a second action would never start beside an agent that does not end, and
    # with IgnoreNew a task counts as running while any action runs, so a dead agent beside a live
    # guard would never be restarted; the guard must also outlive the agent, DESIGN C1).
    param([Parameter(Mandatory = $true)]$In)
    $node = Assert-MirrorTaskText -Value $In.NodePath -What 'NodePath' -Rooted -NoQuote
    $cli = Assert-MirrorTaskText -Value $In.CliPath -What 'CliPath' -Rooted
    $dir = Assert-MirrorTaskText -Value $In.ConfigDir -What 'ConfigDir' -Rooted
    $work = Assert-MirrorTaskText -Value $In.WorkingDirectory -What 'WorkingDirectory' -Rooted -NoQuote
    $quotedCli = ConvertTo-MirrorCommandLineArgument -Value $cli
    $quotedDir = ConvertTo-MirrorCommandLineArgument -Value $dir
    @(
        [ordered]@{ TaskName = 'vmmirror-agent'; Description = 'vmmirror agent: peer link, replication, failover (installed by vmmirror install-task)'
            Execute = $node; Arguments = "$quotedCli agent --dir $quotedDir"; WorkingDirectory = $work },
        [ordered]@{ TaskName = 'vmmirror-guard'; Description = "vmmirror guard: turns this host's VMs off when the agent's lease runs out (installed by vmmirror install-task)"
            Execute = $node; Arguments = "$quotedCli guard --dir $quotedDir"; WorkingDirectory = $work }
    )
}

function ConvertTo-MirrorDuration {
    # xs:duration text in one canonical form ('PT60S' and 'PT1M' compare equal); empty -> $null.
    param([AllowNull()]$Value)
    if ($null -eq $Value -or [string]$Value -eq '') { return $null }
    [System.Xml.XmlConvert]::ToString([System.Xml.XmlConvert]::ToTimeSpan([string]$Value))
}

function ConvertTo-MirrorTaskEnum {
    # CIM gives an enum as its name or its number depending on the path it took: names here.
    param([AllowNull()]$Value, [Parameter(Mandatory = $true)][string[]]$Names)
    if ($null -eq $Value) { return $null }
    $text = [string]$Value
    $n = 0
    if ([int]::TryParse($text, [ref]$n) -and $n -ge 0 -and $n -lt $Names.Count) { return $Names[$n] }
    $text
}

function ConvertTo-MirrorTaskUser {
    # SYSTEM reads back as 'SYSTEM', 'NT AUTHORITY\SYSTEM' or its SID: one name.
    param([AllowNull()]$Value)
    $text = [string]$Value
    if ($text -match '^(NT AUTHORITY\\)?SYSTEM$' -or $text -eq 'S-1-5-18') { return 'SYSTEM' }
    $text
}

function ConvertTo-MirrorTriggerDefinition {
    param([Parameter(Mandatory = $true)]$Trigger)
    $class = [string]$Trigger.CimClass.CimClassName
    $type = $class
    if ($class -eq 'MSFT_TaskBootTrigger') { $type = 'Boot' } elseif ($class -eq 'MSFT_TaskTimeTrigger') { $type = 'Time' }
    # StartBoundary is local time text, 'yyyy-MM-ddTHH:mm:ss' with or without an offset: compared
    # on its first 19 characters (a DateTime, should a path deliver one, is formatted the same way).
    $start = $null
    $sb = $Trigger.StartBoundary
    if ($sb -is [datetime]) { $sb = $sb.ToString('yyyy-MM-ddTHH:mm:ss', [System.Globalization.CultureInfo]::InvariantCulture) }
    if ($sb) { $start = ([string]$sb).Substring(0, [Math]::Min(19, ([string]$sb).Length)) }
    $interval = $null; $duration = $null
    if ($null -ne $Trigger.Repetition) {
        $interval = ConvertTo-MirrorDuration $Trigger.Repetition.Interval
        $duration = ConvertTo-MirrorDuration $Trigger.Repetition.Duration
    }
    [ordered]@{ Type = $type; Enabled = [bool]$Trigger.Enabled; StartBoundary = $start; RepetitionInterval = $interval; RepetitionDuration = $duration }
}

function ConvertTo-MirrorTaskDefinition {
    # A registered task (Get-ScheduledTask) as the plain definition vmmirror compares and reports.
    param([Parameter(Mandatory = $true)]$Task)
    $actions = New-Object System.Collections.ArrayList
    foreach ($a in @($Task.Actions)) {
        if ($null -eq $a) { continue }
        [void]$actions.Add([ordered]@{ Execute = [string]$a.Execute; Arguments = [string]$a.Arguments; WorkingDirectory = [string]$a.WorkingDirectory })
    }
    $triggers = New-Object System.Collections.ArrayList
    foreach ($t in @($Task.Triggers)) { if ($null -ne $t) { [void]$triggers.Add((ConvertTo-MirrorTriggerDefinition -Trigger $t)) } }
    $p = $Task.Principal
    $s = $Task.Settings
    [ordered]@{
        TaskName = [string]$Task.TaskName; TaskPath = [string]$Task.TaskPath; Description = [string]$Task.Description
        Actions = @($actions.ToArray()); Triggers = @($triggers.ToArray())
        Principal = [ordered]@{ UserId = (ConvertTo-MirrorTaskUser $p.UserId)
            LogonType = (ConvertTo-MirrorTaskEnum $p.LogonType @('None', 'Password', 'S4U', 'Interactive', 'Group', 'ServiceAccount', 'InteractiveOrPassword'))
            RunLevel = (ConvertTo-MirrorTaskEnum $p.RunLevel @('Limited', 'Highest')) }
        Settings = [ordered]@{ ExecutionTimeLimit = (ConvertTo-MirrorDuration $s.ExecutionTimeLimit); RestartCount = [int]$s.RestartCount
            RestartInterval = (ConvertTo-MirrorDuration $s.RestartInterval)
            MultipleInstances = (ConvertTo-MirrorTaskEnum $s.MultipleInstances @('Parallel', 'Queue', 'IgnoreNew', 'StopExisting'))
            StartWhenAvailable = [bool]$s.StartWhenAvailable; DisallowStartIfOnBatteries = [bool]$s.DisallowStartIfOnBatteries
            StopIfGoingOnBatteries = [bool]$s.StopIfGoingOnBatteries; Priority = [int]$s.Priority; Enabled = [bool]$s.Enabled
            AllowHardTerminate = [bool]$s.AllowHardTerminate; AllowDemandStart = [bool]$s.AllowDemandStart }
    }
}

function Get-MirrorDefinitionDifference {
    # The dotted paths where two definitions (as built above) differ, e.g. 'Settings.ExecutionTimeLimit'.
    param($Want, $Have, [string]$Prefix = '')
    $out = New-Object System.Collections.ArrayList
    if ($Want -is [System.Collections.IDictionary]) {
        foreach ($k in @($Want.Keys)) {
            $h = $null
            if ($Have -is [System.Collections.IDictionary] -and $Have.Contains($k)) { $h = $Have[$k] }
            foreach ($d in @(Get-MirrorDefinitionDifference -Want $Want[$k] -Have $h -Prefix "$Prefix$k.")) { [void]$out.Add($d) }
        }
        return @($out.ToArray())
    }
    $wantJson = ConvertTo-Json -InputObject $Want -Depth 10 -Compress
    $haveJson = ConvertTo-Json -InputObject $Have -Depth 10 -Compress
    if ($wantJson -ne $haveJson) { [void]$out.Add($Prefix.TrimEnd('.')) }
    @($out.ToArray())
}

function Get-MirrorRegisteredTask {
    # The registered task object, or $null. Names are constants without wildcards; the result is
    # still matched exactly, since -TaskName takes wildcards.
    param([Parameter(Mandatory = $true)][string]$TaskName)
    $found = @(ScheduledTasks\Get-ScheduledTask -TaskName $TaskName -TaskPath $script:MirrorTaskPath -ErrorAction SilentlyContinue |
        Where-Object { [string]$_.TaskName -ceq $TaskName -and [string]$_.TaskPath -eq $script:MirrorTaskPath })
    if ($found.Count -eq 0) { return $null }
    $found[0]
}

function New-MirrorTaskParts {
    # The cmdlet objects of one task: boot trigger + watchdog, SYSTEM, and the settings that keep a
    # long-running agent alive (docs/agent.md, "Scheduled task", says why each one).
    param([Parameter(Mandatory = $true)]$Spec)
    $action = ScheduledTasks\New-ScheduledTaskAction -Execute $Spec.Execute -Argument $Spec.Arguments -WorkingDirectory $Spec.WorkingDirectory
    $boot = ScheduledTasks\New-ScheduledTaskTrigger -AtStartup
    $watchdog = ScheduledTasks\New-ScheduledTaskTrigger -Once -At $script:MirrorWatchdogStart -RepetitionInterval (New-TimeSpan -Minutes 1)
    $principal = ScheduledTasks\New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Highest
    $settings = ScheduledTasks\New-ScheduledTaskSettingsSet -ExecutionTimeLimit ([TimeSpan]::Zero) -RestartCount 255 `
        -RestartInterval (New-TimeSpan -Minutes 1) -MultipleInstances IgnoreNew -StartWhenAvailable -AllowStartIfOnBatteries `
        -DontStopIfGoingOnBatteries -Priority 4
    $task = [pscustomobject]@{ TaskName = $Spec.TaskName; TaskPath = $script:MirrorTaskPath; Description = $Spec.Description
        Actions = @($action); Triggers = @($boot, $watchdog); Principal = $principal; Settings = $settings }
    @{ Action = $action; Triggers = @($boot, $watchdog); Principal = $principal; Settings = $settings
        Definition = (ConvertTo-MirrorTaskDefinition -Task $task) }
}
