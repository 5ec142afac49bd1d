# Pester tests of ps/Install-MirrorAgentTask.ps1 and ps/Uninstall-MirrorAgentTask.ps1 against the mock
# ScheduledTasks module (test/ps/mock-scheduledtasks): the definition recorded in the mock's state
# file is checked field by field. Run by test/ps/scheduled-task.test.ts.
BeforeAll {
    $script:PsDir = Join-Path $PSScriptRoot '../../../ps'
    $script:MockPath = Join-Path $PSScriptRoot '../mock-scheduledtasks/ScheduledTasks.psd1'
    Import-Module $script:MockPath -Force -DisableNameChecking
    $script:Node = $env:VMMIRROR_TEST_NODE
    if (-not $script:Node) { $script:Node = (Get-Command node).Source }
    $script:Root = Join-Path ([IO.Path]::GetTempPath()) ("vmmirror-task-" + [guid]::NewGuid().ToString('N'))
    [void](New-Item -ItemType Directory -Path $script:Root)

    function Invoke-TaskScript {
        # Runs a ps/ script the way the runner does (one base64 JSON argument) and returns its one reply.
        param([string]$Name, $InputObject)
        $json = ConvertTo-Json -InputObject $InputObject -Depth 10 -Compress
        $b64 = [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($json))
        $out = @(& (Join-Path $script:PsDir "$Name.ps1") -InputBase64 $b64)
        $replies = @($out | Where-Object { ([string]$_).StartsWith('{') })
        if ($replies.Count -ne 1) { throw "expected one reply from $Name, got: $($out -join ' | ')" }
        ConvertFrom-Json -InputObject $replies[0]
    }

    function New-InstallInput {
        param([string]$ConfigDir = '/etc/vmmirror', [switch]$WhatIf)
        @{ NodePath = $script:Node; CliPath = '/opt/vm mirror/bin/vmmirror.js'; ConfigDir = $ConfigDir; WorkingDirectory = '/opt/vm mirror'; WhatIf = [bool]$WhatIf }
    }

    function Get-Recorded { param([string]$Name) (Get-MockTaskRecord).Tasks["\vmmirror\$Name"] }
    function Get-RegisterCount { @((Get-MockTaskRecord).Calls | Where-Object { $_.Cmdlet -eq 'Register-ScheduledTask' }).Count }

    function Split-WindowsCommandLine {
        # The argv a Windows program gets from a command line: .NET's own splitter (which follows
        # CommandLineToArgvW's rules, also on Linux) starts real node, which prints what it received.
        param([string]$Arguments)
        $psi = New-Object System.Diagnostics.ProcessStartInfo($script:Node, ('-e "console.log(JSON.stringify(process.argv.slice(1)))" ' + $Arguments))
        $psi.UseShellExecute = $false
        $psi.RedirectStandardOutput = $true
        $p = [System.Diagnostics.Process]::Start($psi)
        $text = $p.StandardOutput.ReadToEnd()
        $p.WaitForExit()
        @(ConvertFrom-Json -InputObject $text)
    }
}

AfterAll { Remove-Item -LiteralPath $script:Root -Recurse -Force -ErrorAction SilentlyContinue }

Describe 'Install-MirrorAgentTask' {
    BeforeEach {
        Set-MockScheduledTaskStore -Path (Join-Path $script:Root ("state-" + [guid]::NewGuid().ToString('N') + '.json'))
    }

    It 'registers the agent and the guard as SYSTEM at boot with a watchdog, no time limit and restarts (field by field)' {
        $r = Invoke-TaskScript 'Install-MirrorAgentTask' (New-InstallInput)
        $r.Ok | Should -BeTrue
        $r.Result.Changed | Should -BeTrue
        @($r.Result.Tasks.Action) | Should -Be @('Created', 'Created')
        foreach ($t in $r.Result.Tasks) { @($t.ReadBackMismatch).Count | Should -Be 0 }
        foreach ($pair in @(@('vmmirror-agent', 'agent'), @('vmmirror-guard', 'guard'))) {
            $rec = Get-Recorded $pair[0]
            $rec.TaskPath | Should -Be '\vmmirror\'
            @($rec.Actions).Count | Should -Be 1
            $rec.Actions[0].CimClassName | Should -Be 'MSFT_TaskExecAction'
            $rec.Actions[0].Execute | Should -Be $script:Node
            $rec.Actions[0].Arguments | Should -Be ('"/opt/vm mirror/bin/vmmirror.js" ' + $pair[1] + ' --dir "/etc/vmmirror"')
            $rec.Actions[0].WorkingDirectory | Should -Be '/opt/vm mirror'
            @($rec.Triggers).Count | Should -Be 2
            $rec.Triggers[0].CimClassName | Should -Be 'MSFT_TaskBootTrigger'
            $rec.Triggers[0].Enabled | Should -BeTrue
            $rec.Triggers[1].CimClassName | Should -Be 'MSFT_TaskTimeTrigger'
            $rec.Triggers[1].StartBoundary | Should -Be '2000-01-01T00:00:00'
            $rec.Triggers[1].Repetition.Interval | Should -Be 'PT1M'
            $rec.Triggers[1].Repetition.Duration | Should -BeNullOrEmpty
            $rec.Principal.UserId | Should -Be 'SYSTEM'
            $rec.Principal.LogonType | Should -Be 'ServiceAccount'
            $rec.Principal.RunLevel | Should -Be 'Highest'
            $rec.Settings.ExecutionTimeLimit | Should -Be 'PT0S'
            $rec.Settings.RestartCount | Should -Be 255
            $rec.Settings.RestartInterval | Should -Be 'PT1M'
            $rec.Settings.MultipleInstances | Should -Be 'IgnoreNew'
            $rec.Settings.StartWhenAvailable | Should -BeTrue
            $rec.Settings.DisallowStartIfOnBatteries | Should -BeFalse
            $rec.Settings.StopIfGoingOnBatteries | Should -BeFalse
            $rec.Settings.Priority | Should -Be 4
            $rec.Settings.Enabled | Should -BeTrue
        }
    }

    It 'changes nothing when installed twice (Changed false, no second Register-ScheduledTask)' {
        [void](Invoke-TaskScript 'Install-MirrorAgentTask' (New-InstallInput))
        Get-RegisterCount | Should -Be 2
        $r = Invoke-TaskScript 'Install-MirrorAgentTask' (New-InstallInput)
        $r.Ok | Should -BeTrue
        $r.Result.Changed | Should -BeFalse
        @($r.Result.Tasks.Action) | Should -Be @('Unchanged', 'Unchanged')
        @($r.Result.Tasks | Where-Object { $_.Changed }).Count | Should -Be 0
        Get-RegisterCount | Should -Be 2
    }

    It 'updates an older definition and names what differed' {
        $old = ScheduledTasks\New-ScheduledTaskAction -Execute $script:Node -Argument '"/old/bin/vmmirror.js" agent --dir "/etc/old"' -WorkingDirectory '/old'
        $boot = ScheduledTasks\New-ScheduledTaskTrigger -AtStartup
        $principal = ScheduledTasks\New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Highest
        [void](ScheduledTasks\Register-ScheduledTask -TaskName 'vmmirror-agent' -TaskPath '\vmmirror\' -Action $old -Trigger $boot -Principal $principal -Settings (ScheduledTasks\New-ScheduledTaskSettingsSet))
        Set-MockTaskRunState -TaskPath '\vmmirror\' -TaskName 'vmmirror-agent' -State Running
        $r = Invoke-TaskScript 'Install-MirrorAgentTask' (New-InstallInput)
        $r.Ok | Should -BeTrue
        $agent = $r.Result.Tasks | Where-Object { $_.TaskName -eq 'vmmirror-agent' }
        $agent.Action | Should -Be 'Updated'
        $agent.State | Should -Be 'Running'
        $agent.Previous.Settings.ExecutionTimeLimit | Should -Be 'P3D' # 72 h, the default, in canonical form
        $agent.Differences | Should -Contain 'Actions'
        $agent.Differences | Should -Contain 'Triggers'
        $agent.Differences | Should -Contain 'Settings.ExecutionTimeLimit'
        $agent.Differences | Should -Contain 'Settings.Priority'
        $agent.Differences | Should -Not -Contain 'Principal.UserId'
        ($r.Result.Tasks | Where-Object { $_.TaskName -eq 'vmmirror-guard' }).Action | Should -Be 'Created'
        $rec = Get-Recorded 'vmmirror-agent'
        $rec.Settings.ExecutionTimeLimit | Should -Be 'PT0S'
        @($rec.Triggers).Count | Should -Be 2
        $rec.Actions[0].Arguments | Should -Be '"/opt/vm mirror/bin/vmmirror.js" agent --dir "/etc/vmmirror"'
        $rec.State | Should -Be 'Running'
    }

    It 'with WhatIf returns the definition it would register and registers nothing' {
        $r = Invoke-TaskScript 'Install-MirrorAgentTask' (New-InstallInput -WhatIf)
        $r.Ok | Should -BeTrue
        $r.Result.WhatIf | Should -BeTrue
        $r.Result.Changed | Should -BeTrue
        @($r.Result.Tasks.Action) | Should -Be @('Created', 'Created')
        $d = $r.Result.Tasks[0].Definition
        $d.Settings.ExecutionTimeLimit | Should -Be 'PT0S'
        $d.Principal.LogonType | Should -Be 'ServiceAccount'
        @($d.Triggers.Type) | Should -Be @('Boot', 'Time')
        $d.Triggers[1].RepetitionInterval | Should -Be 'PT1M'
        Get-RegisterCount | Should -Be 0
        (Get-MockTaskRecord).Tasks.Count | Should -Be 0
    }

    It 'keeps a config path with quotes, $(...), backticks and a trailing backslash as data' {
        $canary = Join-Path $script:Root 'canary'
        $dir = "/srv/it's `"quoted`" `$(New-Item -ItemType File -Path '$canary') ``b; x\"
        $r = Invoke-TaskScript 'Install-MirrorAgentTask' (New-InstallInput -ConfigDir $dir)
        $r.Ok | Should -BeTrue
        Test-Path -LiteralPath $canary | Should -BeFalse
        $line = (Get-Recorded 'vmmirror-agent').Actions[0].Arguments
        $argv = Split-WindowsCommandLine -Arguments $line
        $argv | Should -Be @('/opt/vm mirror/bin/vmmirror.js', 'agent', '--dir', $dir)
        Test-Path -LiteralPath $canary | Should -BeFalse
    }

    It 'refuses a path Task Scheduler would expand (%), a relative one, and registers nothing' {
        $r = Invoke-TaskScript 'Install-MirrorAgentTask' (New-InstallInput -ConfigDir '/etc/%PATH%/vmmirror')
        $r.Ok | Should -BeFalse
        $r.Error.Code | Should -Be 'USAGE'
        $r.Error.Message | Should -Match '%'
        $r = Invoke-TaskScript 'Install-MirrorAgentTask' (New-InstallInput -ConfigDir 'relative/dir')
        $r.Error.Code | Should -Be 'USAGE'
        Get-RegisterCount | Should -Be 0
    }
}

Describe 'Uninstall-MirrorAgentTask' {
    BeforeEach {
        Set-MockScheduledTaskStore -Path (Join-Path $script:Root ("state-" + [guid]::NewGuid().ToString('N') + '.json'))
        [void](Invoke-TaskScript 'Install-MirrorAgentTask' (New-InstallInput))
    }

    It 'removes both tasks, does not stop a running one, and is harmless the second time' {
        Set-MockTaskRunState -TaskPath '\vmmirror\' -TaskName 'vmmirror-guard' -State Running
        $r = Invoke-TaskScript 'Uninstall-MirrorAgentTask' @{}
        $r.Ok | Should -BeTrue
        $r.Result.Changed | Should -BeTrue
        @($r.Result.Tasks.Removed) | Should -Be @($true, $true)
        ($r.Result.Tasks | Where-Object { $_.TaskName -eq 'vmmirror-guard' }).State | Should -Be 'Running'
        (Get-MockTaskRecord).Tasks.Count | Should -Be 0
        @((Get-MockTaskRecord).Calls | Where-Object { $_.Cmdlet -eq 'Stop-ScheduledTask' }).Count | Should -Be 0
        $again = Invoke-TaskScript 'Uninstall-MirrorAgentTask' @{}
        $again.Result.Changed | Should -BeFalse
        @($again.Result.Tasks.Found) | Should -Be @($false, $false)
    }

    It 'with WhatIf removes nothing' {
        $r = Invoke-TaskScript 'Uninstall-MirrorAgentTask' @{ WhatIf = $true }
        $r.Result.WhatIf | Should -BeTrue
        @($r.Result.Tasks.Removed) | Should -Be @($false, $false)
        (Get-MockTaskRecord).Tasks.Count | Should -Be 2
    }
}

Describe 'without the ScheduledTasks module' {
    It 'answers TASK_SCHEDULER_UNAVAILABLE (install and uninstall)' {
        Remove-Module ScheduledTasks
        try {
            (Invoke-TaskScript 'Install-MirrorAgentTask' (New-InstallInput)).Error.Code | Should -Be 'TASK_SCHEDULER_UNAVAILABLE'
            (Invoke-TaskScript 'Uninstall-MirrorAgentTask' @{}).Error.Code | Should -Be 'TASK_SCHEDULER_UNAVAILABLE'
        } finally {
            Import-Module $script:MockPath -Force -DisableNameChecking
        }
    }
}

Describe 'the mock ScheduledTasks module' {
    BeforeEach { Set-MockScheduledTaskStore -Path (Join-Path $script:Root ("state-" + [guid]::NewGuid().ToString('N') + '.json')) }

    It 'refuses parameters and parameter mixes the real cmdlets refuse' {
        { ScheduledTasks\New-ScheduledTaskSettingsSet -RestartOnFailure } | Should -Throw '*RestartOnFailure*'
        { ScheduledTasks\New-ScheduledTaskTrigger -AtStartup -RepetitionInterval (New-TimeSpan -Minutes 1) } | Should -Throw '*Parameter set cannot be resolved*'
        { ScheduledTasks\New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType Service } | Should -Throw
        $a = ScheduledTasks\New-ScheduledTaskAction -Execute '/bin/true'
        { ScheduledTasks\Register-ScheduledTask -TaskName 't' -TaskPath '\x\' -Action $a -RunLevel Highest -Principal (ScheduledTasks\New-ScheduledTaskPrincipal -UserId 'SYSTEM') } | Should -Throw '*Parameter set cannot be resolved*'
    }

    It 'refuses what the service refuses: a restart count without interval, an interval under a minute, a second registration without -Force' {
        $a = ScheduledTasks\New-ScheduledTaskAction -Execute '/bin/true'
        { ScheduledTasks\Register-ScheduledTask -TaskName 't' -TaskPath '\x\' -Action $a -Settings (ScheduledTasks\New-ScheduledTaskSettingsSet -RestartCount 3) } | Should -Throw '*missing a required element*'
        $fast = ScheduledTasks\New-ScheduledTaskTrigger -Once -At (Get-Date) -RepetitionInterval (New-TimeSpan -Seconds 30)
        { ScheduledTasks\Register-ScheduledTask -TaskName 't' -TaskPath '\x\' -Action $a -Trigger $fast } | Should -Throw '*out of range*'
        [void](ScheduledTasks\Register-ScheduledTask -TaskName 't' -TaskPath '\x\' -Action $a)
        { ScheduledTasks\Register-ScheduledTask -TaskName 't' -TaskPath '\x\' -Action $a } | Should -Throw '*already exists*'
        { ScheduledTasks\Unregister-ScheduledTask -TaskName 't' -TaskPath '\x\' } | Should -Throw '*NonInteractive*'
    }
}
