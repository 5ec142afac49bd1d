# Argument building, against a recording fake CLI (a shell script that writes its argv to
# a file per call and prints the canned document the test wrote for that subcommand). These prove what
# each cmdlet asks the CLI for and how it reads the answer; they are not tests of vmmirror's
# behaviour (failover, failback, drain and resume are proved against the real CLI by their own tests).
Describe 'VmMirror module (recording fake CLI)' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'Common.ps1')
        # The lab tests in this run need the real CLI back afterwards.
        $script:CliBefore = $env:VMMIRROR_CLI
        # A shell script, not node: it starts in milliseconds, so the many calls below stay cheap.
        # Each call's argv is one file of NUL-terminated arguments (any byte but NUL survives).
        $script:Fake = Join-Path $TestDrive 'fake-vmmirror'
        Set-Content -LiteralPath $script:Fake -Encoding utf8 -Value @'
#!/bin/sh
d="$VMMIRROR_FAKE_DIR"
n=$(ls "$d/calls" | wc -l)
printf '%s\0' "$@" > "$d/calls/$(printf '%05d' "$n")"
echo 'fake vmmirror: a log line on stderr' >&2
if [ -f "$d/$1.json" ]; then cat "$d/$1.json"; fi
code=0
if [ -f "$d/$1.exit" ]; then code=$(cat "$d/$1.exit"); fi
exit "$code"
'@
        & chmod +x $script:Fake
        $script:Replies = Join-Path $TestDrive 'replies'

        function Set-FakeReply([string]$Word, [string]$Json, [int]$Exit = 0) {
            Set-Content -LiteralPath (Join-Path $script:Replies "$Word.json") -Value $Json -Encoding utf8 -NoNewline
            Set-Content -LiteralPath (Join-Path $script:Replies "$Word.exit") -Value ([string]$Exit) -NoNewline
        }
        function Get-FakeCall {
            $calls = @(Get-ChildItem -LiteralPath (Join-Path $script:Replies 'calls') -File | Sort-Object Name | ForEach-Object {
                $parts = [System.Text.Encoding]::UTF8.GetString([System.IO.File]::ReadAllBytes($_.FullName)).Split([char]0)
                , @($parts[0..($parts.Count - 2)])
            })
            , $calls
        }
        function Set-CommandLineMode([bool]$On) {
            & (Get-Module VmMirror) { param($v) $script:VmMirrorUseCommandLine = $v } $On
        }

        # A switchover document as vmmirror failover/failback print it (src/agent/control/documents.ts).
        $script:Report = '{"Module":"web1","VmName":"WEB1","Action":"failover","WhatIf":false,"From":"hva","To":"hvb","Epoch":5,"Checks":[{"Name":"peer-heard","Passed":true,"Detail":"d"}],"Result":{"Epoch":6,"FromGeneration":3,"ToGeneration":5,"FinalDeltaBytes":1024,"StopMs":60,"FinalSyncMs":700,"StartMs":52,"DowntimeMs":812,"FinishedAt":"2026-11-26T01:35:30.662Z"}}'
        $script:StatusJson = @'
{"Cluster":"lab","Host":"hva","AgentPid":4242,"AgentStartedAt":"2026-11-26T01:35:30.662Z","GeneratedAt":"2026-11-26T01:36:30.662Z",
 "Hosts":[{"Name":"hva","Address":"10.0.0.11","Port":7420,"Self":true,"Reachable":true,"LinkConnected":false,"LastHeartbeatAt":null,"SilentHeartbeatPaths":[]},
          {"Name":"hvb","Address":"10.0.0.12","Port":7420,"Self":false,"Reachable":true,"LinkConnected":true,"LastHeartbeatAt":"2026-11-26T01:36:29.662Z","SilentHeartbeatPaths":[]}],
 "Quorum":{"HoldsLease":true,"RunnableForMs":2500,"FromPeer":true,"FromWitness":true,"GrantedToPeerForMs":5400},
 "Witness":{"Kind":"Agent","Reachable":true,"LastLeaseAt":"2026-11-26T01:36:29.862Z"},
 "Modules":[
  {"Name":"web1","VmName":"WEB1","State":"ALONE","Owner":"hva","RunningOn":["hva"],"Resync":null,"LastError":{"Code":"PEER_UNREACHABLE","Message":"m","At":"2026-11-26T01:30:00.000Z"}},
  {"Name":"2026-01-01T00:00:00Z","State":"PRIM","Owner":"hva","RunningOn":["hva"],"Resync":{"BytesDone":1,"BytesTotal":2,"Percent":50.0,"StartedAt":"2026-11-26T01:36:26.662Z"},"LastError":null},
  {"Name":"app1","State":"ALONE","Owner":"hva","RunningOn":["hva"],"Resync":null,"LastError":null}]}
'@
    }

    BeforeEach {
        if (Test-Path -LiteralPath $script:Replies) { Remove-Item -LiteralPath $script:Replies -Recurse -Force }
        New-Item -ItemType Directory -Path (Join-Path $script:Replies 'calls') | Out-Null
        $env:VMMIRROR_FAKE_DIR = $script:Replies
        $env:VMMIRROR_CLI = $script:Fake
        Set-CommandLineMode $false
    }

    AfterAll {
        Remove-Item Env:VMMIRROR_FAKE_DIR -ErrorAction SilentlyContinue
        $env:VMMIRROR_CLI = $script:CliBefore
        Set-CommandLineMode $false
    }

    Describe 'VmMirror cmdlets build the CLI argument list (recording fake CLI)' {
        It 'Get-VmMirrorStatus runs status --json, with --dir resolved against the PowerShell location' {
            Set-FakeReply 'status' $script:StatusJson
            Push-Location $TestDrive
            try { $null = Get-VmMirrorStatus -ConfigDirectory 'cfg' } finally { Pop-Location }
            $null = Get-VmMirrorStatus
            $calls = Get-FakeCall
            $calls.Count | Should -Be 2
            $calls[0] | Should -Be @('status', '--json', ('--dir=' + (Join-Path $TestDrive 'cfg')))
            $calls[1] | Should -Be @('status', '--json')
        }

        It 'Invoke-VmMirrorFailover: failover --json --dir= --to= -- <name>' {
            Set-FakeReply 'failover' $script:Report
            $r = Invoke-VmMirrorFailover -Name web1 -To hvb -ConfigDirectory '/etc/vmm' -Confirm:$false
            (Get-FakeCall)[0] | Should -Be @('failover', '--json', '--dir=/etc/vmm', '--to=hvb', '--', 'web1')
            $r.PSObject.TypeNames[0] | Should -Be 'VmMirror.Switchover'
            $r.Checks[0].PSObject.TypeNames[0] | Should -Be 'VmMirror.SwitchoverCheck'
            $r.Result.PSObject.TypeNames[0] | Should -Be 'VmMirror.SwitchoverResult'
            $r.Result.FinishedAt | Should -BeOfType [datetime]
            $r.Result.FinishedAt.Kind | Should -Be 'Utc'
            $r.Result.FinishedAt | Should -Be ([datetime]::new(2026, 11, 26, 1, 35, 30, 662, [DateTimeKind]::Utc))
            $r.Result.DowntimeMs | Should -Be 812
        }

        It 'Invoke-VmMirrorFailover / Invoke-VmMirrorFailback -Plan -TimeoutSeconds: --what-if --timeout=' {
            Set-FakeReply 'failover' $script:Report
            Set-FakeReply 'failback' $script:Report
            $null = Invoke-VmMirrorFailover -Name web1 -Plan -TimeoutSeconds 30
            $null = Invoke-VmMirrorFailback -Name web1 -Plan -ConfigDirectory '/c'
            $null = Invoke-VmMirrorFailback -Name web1 -TimeoutSeconds 9 -Confirm:$false
            $calls = Get-FakeCall
            $calls[0] | Should -Be @('failover', '--json', '--what-if', '--timeout=30', '--', 'web1')
            $calls[1] | Should -Be @('failback', '--json', '--dir=/c', '--what-if', '--', 'web1')
            $calls[2] | Should -Be @('failback', '--json', '--timeout=9', '--', 'web1')
        }

        It 'Invoke-VmMirrorFailback, Sync-VmMirror, Suspend-VmMirrorHost, Resume-VmMirrorHost, Test-VmMirrorConfig' {
            foreach ($w in 'failback', 'sync', 'drain', 'resume') { Set-FakeReply $w $script:Report }
            Set-FakeReply 'config' '{"Valid":true,"ConfigDirectory":"/c","HostName":"hva","ModuleCount":0,"Problems":[]}'
            (Invoke-VmMirrorFailback -Name db1 -Confirm:$false).PSObject.TypeNames[0] | Should -Be 'VmMirror.Switchover'
            (Sync-VmMirror web1 -TimeoutSeconds 600 -Confirm:$false).PSObject.TypeNames[0] | Should -Be 'VmMirror.SyncReport'
            (Suspend-VmMirrorHost -HostName hva -Confirm:$false).PSObject.TypeNames[0] | Should -Be 'VmMirror.DrainReport'
            (Resume-VmMirrorHost hva -ConfigDirectory '/c' -Confirm:$false).PSObject.TypeNames[0] | Should -Be 'VmMirror.ResumeReport'
            (Test-VmMirrorConfig -ConfigDirectory '/c').PSObject.TypeNames[0] | Should -Be 'VmMirror.ConfigValidation'
            Test-VmMirrorConfig -Quiet | Should -BeExactly $true
            $calls = Get-FakeCall
            $calls.Count | Should -Be 6
            $calls[0] | Should -Be @('failback', '--json', '--', 'db1')
            $calls[1] | Should -Be @('sync', '--json', '--timeout=600', '--', 'web1')
            $calls[2] | Should -Be @('drain', '--json', '--', 'hva')
            $calls[3] | Should -Be @('resume', '--json', '--dir=/c', '--', 'hva')
            $calls[4] | Should -Be @('config', 'validate', '--json', '--dir=/c')
            $calls[5] | Should -Be @('config', 'validate', '--json')
        }

        It 'pipes modules by property name: Get-VmMirrorModule | Where-Object State -eq ALONE | Invoke-VmMirrorFailback' {
            Set-FakeReply 'status' $script:StatusJson
            Set-FakeReply 'failback' $script:Report
            $out = @(Get-VmMirrorModule -ConfigDirectory '/etc/vmm' | Where-Object State -eq 'ALONE' | Invoke-VmMirrorFailback -Confirm:$false)
            $out.Count | Should -Be 2
            $calls = Get-FakeCall
            $calls.Count | Should -Be 3
            $calls[0] | Should -Be @('status', '--json', '--dir=/etc/vmm')
            $calls[1] | Should -Be @('failback', '--json', '--dir=/etc/vmm', '--', 'web1')
            $calls[2] | Should -Be @('failback', '--json', '--dir=/etc/vmm', '--', 'app1')
        }

        It 'a piped module binds its Name, not its VmName (an alias of -Name on Invoke-VmMirrorFailover)' {
            Set-FakeReply 'status' $script:StatusJson
            Set-FakeReply 'failover' $script:Report
            $null = Get-VmMirrorModule -Name web1 | Invoke-VmMirrorFailover -Confirm:$false
            (Get-FakeCall)[1] | Should -Be @('failover', '--json', '--', 'web1')
        }

        It 'pipes strings by value and hosts by their Name' {
            Set-FakeReply 'status' $script:StatusJson
            Set-FakeReply 'sync' $script:Report
            Set-FakeReply 'drain' $script:Report
            $null = 'web1', 'db1' | Sync-VmMirror -Confirm:$false
            $null = (Get-VmMirrorStatus).Hosts | Where-Object Self | Suspend-VmMirrorHost -Confirm:$false
            $calls = Get-FakeCall
            $calls[0] | Should -Be @('sync', '--json', '--', 'web1')
            $calls[1] | Should -Be @('sync', '--json', '--', 'db1')
            $calls[3] | Should -Be @('drain', '--json', '--', 'hva')
            $calls.Count | Should -Be 4
        }

        It '-WhatIf runs nothing on any cmdlet that moves VMs' {
            Invoke-VmMirrorFailover -Name web1 -WhatIf
            Invoke-VmMirrorFailback -Name web1 -WhatIf
            Sync-VmMirror -Name web1 -WhatIf
            Suspend-VmMirrorHost -HostName hva -WhatIf
            Resume-VmMirrorHost -HostName hva -WhatIf
            'a', 'b' | Invoke-VmMirrorFailover -WhatIf
            Invoke-VmMirrorFailover -Name web1 -Plan -WhatIf
            Invoke-VmMirrorFailback -Name web1 -Plan -WhatIf
            (Get-FakeCall).Count | Should -Be 0
        }

        It 'draining a host asks for confirmation by default (ConfirmImpact High); the others are Medium' {
            $impact = @{}
            foreach ($c in 'Invoke-VmMirrorFailover', 'Invoke-VmMirrorFailback', 'Sync-VmMirror', 'Suspend-VmMirrorHost', 'Resume-VmMirrorHost') {
                $binding = @((Get-Command $c).ScriptBlock.Attributes | Where-Object { $_ -is [System.Management.Automation.CmdletBindingAttribute] })[0]
                $binding.SupportsShouldProcess | Should -BeTrue
                $impact[$c] = [string]$binding.ConfirmImpact
            }
            $impact['Suspend-VmMirrorHost'] | Should -Be 'High'
            @($impact.Keys | Where-Object { $_ -ne 'Suspend-VmMirrorHost' } | ForEach-Object { $impact[$_] } | Sort-Object -Unique) | Should -Be @('Medium')
        }
    }

    Describe 'A hostile name stays one argument, never source (recording fake CLI)' {
        BeforeAll {
            $script:Canary = Join-Path $TestDrive 'pwned'
            $script:Hostile = @(
                "x'; Remove-Item -Recurse C:\ ; '",
                "x'; Set-Content -LiteralPath '$($script:Canary)' -Value 1; '",
                "`$(Set-Content -LiteralPath '$($script:Canary)' -Value 2)",
                'a "quoted" name', 'trailing\', 'C:\dir with space\', '\\server\share\"x', '\"', '"', ' ',
                '-h', '--json', '--dir=/etc', '%PATH%', 'a & b | c > d ^ e', "tab`there", "new`nline",
                ([string][char]0x2018) + 'curly' + [char]0x2019 + [char]0x201C + [char]0x201D, 'ümlaut', '2026-01-01T00:00:00Z'
            )
        }

        It 'passes each name as exactly the last argument, after --, with <Mode>' -ForEach @(
            @{ Mode = 'an argument array (PowerShell 7)'; CommandLine = $false },
            @{ Mode = 'one quoted command line (the Windows PowerShell 5.1 path)'; CommandLine = $true }
        ) {
            Set-CommandLineMode $CommandLine
            Set-FakeReply 'failover' $script:Report
            foreach ($n in $script:Hostile) { $null = Invoke-VmMirrorFailover -Name $n -To $n -ConfigDirectory '/etc/a dir' -Confirm:$false }
            $calls = Get-FakeCall
            $calls.Count | Should -Be $script:Hostile.Count
            for ($i = 0; $i -lt $script:Hostile.Count; $i++) {
                $n = $script:Hostile[$i]
                $calls[$i] | Should -Be @('failover', '--json', '--dir=/etc/a dir', "--to=$n", '--', $n) -Because "name $i [$n]"
            }
            Test-Path -LiteralPath $script:Canary | Should -BeFalse
        }

        It 'quotes for the C runtime: spaces, quotes and the backslashes before them' {
            $line = & (Get-Module VmMirror) { ConvertTo-VmMirrorCommandLine -Arguments @('plain', 'a b', 'a"b', 'c:\x\', 'c:\x y\', '', 'q\"') }
            $line | Should -BeExactly 'plain "a b" "a\"b" c:\x\ "c:\x y\\" "" "q\\\""'
        }
    }

    Describe 'VmMirror cmdlets read the CLI document into typed objects (recording fake CLI)' {
        It 'timestamps become UTC [datetime] at any depth; a date-looking name stays a string; null stays null' {
            Set-FakeReply 'status' $script:StatusJson
            $s = Get-VmMirrorStatus
            $s.PSObject.TypeNames[0] | Should -Be 'VmMirror.Status'
            $s.AgentStartedAt | Should -Be ([datetime]::new(2026, 11, 26, 1, 35, 30, 662, [DateTimeKind]::Utc))
            $s.AgentStartedAt.Kind | Should -Be 'Utc'
            $s.Witness.LastLeaseAt | Should -BeOfType [datetime]
            $s.Hosts[0].LastHeartbeatAt | Should -BeNullOrEmpty
            $s.Hosts[1].LastHeartbeatAt | Should -Be ([datetime]::new(2026, 11, 26, 1, 36, 29, 662, [DateTimeKind]::Utc))
            $s.Modules[0].LastError.At | Should -BeOfType [datetime]
            $s.Modules[1].Resync.StartedAt | Should -BeOfType [datetime]
            $s.Modules[1].Name | Should -BeOfType [string]
            $s.Modules[1].Name | Should -BeExactly '2026-01-01T00:00:00Z'
        }

        It 'kinds carry a PSTypeName; lists stay arrays, even of one or none' {
            Set-FakeReply 'status' $script:StatusJson
            $s = Get-VmMirrorStatus
            @($s.Hosts | ForEach-Object { $_.PSObject.TypeNames[0] } | Sort-Object -Unique) | Should -Be @('VmMirror.Host')
            $m = @(Get-VmMirrorModule -Name web1)
            $m.Count | Should -Be 1
            $m[0].PSObject.TypeNames[0] | Should -Be 'VmMirror.Module'
            $m[0].Host | Should -Be 'hva'
            , $m[0].RunningOn | Should -BeOfType [array]
            $m[0].RunningOn.Count | Should -Be 1
            , $s.Hosts[0].SilentHeartbeatPaths | Should -BeOfType [array]
            $s.Hosts[0].SilentHeartbeatPaths.Count | Should -Be 0
            (Get-VmMirrorModule | Format-Table | Out-String) | Should -Match 'Name\s+State\s+PeerState\s+Owner\s+RunningOn'
        }

        It "the CLI's stderr goes to the verbose stream, never into the objects" {
            Set-FakeReply 'status' $script:StatusJson
            $all = @(Get-VmMirrorStatus -Verbose 4>&1)
            @($all | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -and $_.Message -match 'fake vmmirror: a log line on stderr' }).Count | Should -Be 1
            @($all | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }).Count | Should -Be 1
        }
    }

    Describe 'An error document becomes an ErrorRecord with the stable code (recording fake CLI)' {
        It 'HANDOVER_FAILED from failover: FullyQualifiedErrorId, category, message, target, exit code, details' {
            Set-FakeReply 'failover' '{"Error":{"Code":"HANDOVER_FAILED","Message":"final sync failed; web1 runs on hva","Details":{"Step":"final-sync"}}}' 7
            $out = @(Invoke-VmMirrorFailover -Name web1 -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue)
            $out.Count | Should -Be 0
            $ev.Count | Should -Be 1
            $ev[0] | Should -BeOfType [System.Management.Automation.ErrorRecord]
            $ev[0].FullyQualifiedErrorId | Should -Be 'HANDOVER_FAILED,Invoke-VmMirrorFailover'
            $ev[0].CategoryInfo.Category | Should -Be 'OperationStopped'
            $ev[0].Exception.Message | Should -Be 'final sync failed; web1 runs on hva'
            $ev[0].TargetObject | Should -Be 'web1'
            $ev[0].Exception.Data['Code'] | Should -Be 'HANDOVER_FAILED'
            $ev[0].Exception.Data['ExitCode'] | Should -Be 7
            $ev[0].Exception.Data['Details'].Step | Should -Be 'final-sync'
        }

        It 'is non-terminating (the next name still runs) unless -ErrorAction Stop' {
            Set-FakeReply 'failback' '{"Error":{"Code":"MODULE_NOT_FOUND","Message":"no module named x"}}' 2
            $null = Invoke-VmMirrorFailback -Name a, b -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
            $ev.Count | Should -Be 2
            @($ev | ForEach-Object { $_.FullyQualifiedErrorId } | Sort-Object -Unique) | Should -Be @('MODULE_NOT_FOUND,Invoke-VmMirrorFailback')
            $ev[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
            (Get-FakeCall).Count | Should -Be 2
            { Invoke-VmMirrorFailback -Name a -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'MODULE_NOT_FOUND,Invoke-VmMirrorFailback'
        }

        It 'a code this module does not know gets the category of its exit class' -ForEach @(
            @{ Code = 'SOMETHING_NEW'; Exit = 6; Category = 'DeviceError' },
            @{ Code = 'OTHER_NEW'; Exit = 7; Category = 'ConnectionError' },
            @{ Code = 'THING_INVALID'; Exit = 4; Category = 'InvalidData' },
            @{ Code = 'AGENT_UNREACHABLE'; Exit = 7; Category = 'ConnectionError' }
        ) {
            Set-FakeReply 'status' "{`"Error`":{`"Code`":`"$Code`",`"Message`":`"m`"}}" $Exit
            $null = Get-VmMirrorStatus -ErrorVariable ev -ErrorAction SilentlyContinue
            $ev[0].FullyQualifiedErrorId | Should -Be "$Code,Get-VmMirrorStatus"
            $ev[0].CategoryInfo.Category | Should -Be $Category
        }

        It 'output that is not one JSON document is a terminating CLI_OUTPUT_INVALID' -ForEach @(
            @{ Stdout = 'hello' }, @{ Stdout = '' }, @{ Stdout = '[1,2]' }, @{ Stdout = '{"a":1}{"b":2}' }
        ) {
            Set-FakeReply 'status' $Stdout 70
            { Get-VmMirrorStatus -ErrorAction SilentlyContinue } | Should -Throw -ErrorId 'CLI_OUTPUT_INVALID,Get-VmMirrorStatus'
        }
    }

    Describe 'Which CLI runs: -CliPath, then $env:VMMIRROR_CLI, then the module default' {
        It '-CliPath wins over the environment; the environment over the module variable' {
            Set-FakeReply 'status' $script:StatusJson
            $env:VMMIRROR_CLI = Join-Path $TestDrive 'missing.js'
            (Get-VmMirrorStatus -CliPath $script:Fake).Host | Should -Be 'hva'
            { Get-VmMirrorStatus } | Should -Throw -ErrorId 'FILE_NOT_FOUND,Get-VmMirrorStatus'
            Remove-Item Env:VMMIRROR_CLI
            $default = & (Get-Module VmMirror) { $script:VmMirrorCliPath }
            $default | Should -Be ([System.IO.Path]::GetFullPath((Join-Path $PSScriptRoot '../../../bin/vmmirror.js')))
            & (Get-Module VmMirror) { param($p) $script:VmMirrorCliPath = $p } $script:Fake
            try { (Get-VmMirrorStatus).Host | Should -Be 'hva' } finally { & (Get-Module VmMirror) { param($p) $script:VmMirrorCliPath = $p } $default }
        }

        It 'refuses a .cmd or .bat CLI (cmd.exe would parse the names again) with USAGE' {
            $cmd = Join-Path $TestDrive 'vmmirror.cmd'
            Set-Content -LiteralPath $cmd -Value '@echo {}'
            { Get-VmMirrorStatus -CliPath $cmd } | Should -Throw -ErrorId 'USAGE,Get-VmMirrorStatus'
            (Get-FakeCall).Count | Should -Be 0
        }
    }
}
