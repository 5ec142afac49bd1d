# The module against the real CLI and a running `vmmirror lab` (two hosts, a witness, one VM),
# which test/ps/vmmirror-module.test.ts creates and starts around this run, and stops and removes after.
# It hands over $env:VMMIRROR_TEST_LAB (the lab folder) and $env:VMMIRROR_CLI (the CLI from the sources).
Describe 'VmMirror module on a vmmirror lab' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'Common.ps1')
        if (-not $env:VMMIRROR_TEST_LAB) { throw 'VMMIRROR_TEST_LAB is not set: run these tests through test/ps/vmmirror-module.test.ts, which starts the lab' }
        $script:Lab = ConvertFrom-RawJson (Get-Content -LiteralPath (Join-Path $env:VMMIRROR_TEST_LAB 'lab.json') -Raw)
        $script:Hva = @($script:Lab.Hosts | Where-Object Name -eq 'hva')[0].ConfigDirectory
        $script:Hvb = @($script:Lab.Hosts | Where-Object Name -eq 'hvb')[0].ConfigDirectory
        $script:Vm = $script:Lab.Modules[0]
        $script:Canary = Join-Path $TestDrive 'pwned'
        $script:Hostile = "x'; Set-Content -LiteralPath '$($script:Canary)' -Value 1; '"

        function Wait-LabModuleState([string]$ConfigDirectory, [string]$State) {
            # The lab's one module as this host reports it, once it is in $State (at most 30 s).
            $deadline = [DateTime]::UtcNow.AddSeconds(30)
            for (;;) {
                $m = @(Get-VmMirrorModule -ConfigDirectory $ConfigDirectory)[0]
                if ($m.State -eq $State -or [DateTime]::UtcNow -gt $deadline) { return $m }
                Start-Sleep -Milliseconds 200
            }
        }

        function Get-RawDocument([string[]]$Arguments) {
            # The CLI's own document, read without the module: the independent side of the comparison.
            $node = $env:VMMIRROR_NODE
            if (-not $node) { $node = 'node' }
            ConvertFrom-RawJson ((& $node $env:VMMIRROR_CLI @Arguments 2>$null) -join "`n")
        }
    }

    It 'the lab has one VM whose default primary is hva' {
        @($script:Lab.Modules).Count | Should -Be 1
        $script:Vm.DefaultPrimary | Should -Be 'hva'
    }

    It 'Get-VmMirrorStatus returns the agent status as typed objects that agree with the raw document' {
        $s = Get-VmMirrorStatus -ConfigDirectory $script:Hva
        $raw = Get-RawDocument @('status', '--json', "--dir=$($script:Hva)")
        $s.PSObject.TypeNames[0] | Should -Be 'VmMirror.Status'
        $s.Cluster | Should -Be $raw.Cluster
        $s.Host | Should -Be 'hva'
        $s.AgentPid | Should -Be $raw.AgentPid
        $s.AgentPid | Should -BeOfType [long]
        $s.AgentStartedAt | Should -BeOfType [datetime]
        $s.AgentStartedAt.Kind | Should -Be 'Utc'
        $s.AgentStartedAt | Should -Be ([datetime]::Parse($raw.AgentStartedAt, [cultureinfo]::InvariantCulture, 'RoundtripKind'))
        $s.GeneratedAt | Should -BeOfType [datetime]
        $s.Quorum.HoldsLease | Should -BeOfType [bool]
        , $s.Hosts | Should -BeOfType [array]
        @($s.Hosts | ForEach-Object { $_.Name }) | Should -Be @($raw.Hosts | ForEach-Object { $_.Name })
        @($s.Hosts | ForEach-Object { $_.PSObject.TypeNames[0] } | Sort-Object -Unique) | Should -Be @('VmMirror.Host')
        @($s.Hosts | Where-Object Name -eq 'hvb')[0].LastHeartbeatAt | Should -BeOfType [datetime]
        # One module: still an array, and so is the one-host RunningOn.
        , $s.Modules | Should -BeOfType [array]
        $s.Modules.Count | Should -Be 1
        $s.Modules[0].Name | Should -Be $script:Vm.Name
        , $s.Modules[0].RunningOn | Should -BeOfType [array]
        @($s.Modules[0].RunningOn) | Should -Be @('hva')
    }

    It 'Get-VmMirrorModule returns VmMirror.Module objects that know their host and config folder' {
        $m = @(Get-VmMirrorModule -ConfigDirectory $script:Hva)
        $m.Count | Should -Be 1
        $m[0].PSObject.TypeNames[0] | Should -Be 'VmMirror.Module'
        $m[0].Name | Should -Be $script:Vm.Name
        $m[0].VmName | Should -Be $script:Vm.VmName
        $m[0].State | Should -Be 'PRIM'
        $m[0].Role | Should -Be 'Primary'
        $m[0].Epoch | Should -BeGreaterOrEqual 1
        $m[0].Host | Should -Be 'hva'
        $m[0].ConfigDirectory | Should -Be $script:Hva
        @(Get-VmMirrorModule -ConfigDirectory $script:Hvb -Name $script:Vm.Name)[0].State | Should -Be 'SECOND'
    }

    It 'Get-VmMirrorModule -Name with an unknown or hostile name: MODULE_NOT_FOUND, and the name stays data' {
        $out = @(Get-VmMirrorModule -ConfigDirectory $script:Hva -Name 'nope', $script:Vm.Name, $script:Hostile -ErrorVariable ev -ErrorAction SilentlyContinue)
        @($out | ForEach-Object { $_.Name }) | Should -Be @($script:Vm.Name)
        $ev.Count | Should -Be 2
        $ev[0] | Should -BeOfType [System.Management.Automation.ErrorRecord]
        $ev[0].FullyQualifiedErrorId | Should -Be 'MODULE_NOT_FOUND,Get-VmMirrorModule'
        $ev[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $ev[1].TargetObject | Should -BeExactly $script:Hostile
        Test-Path -LiteralPath $script:Canary | Should -BeFalse
    }

    It 'Sync-VmMirror from the pipeline runs a cycle on the primary and returns its typed report' {
        $before = @(Get-VmMirrorModule -ConfigDirectory $script:Hva)[0].LocalGeneration
        $r = @(Get-VmMirrorModule -ConfigDirectory $script:Hva | Where-Object Role -eq 'Primary' | Sync-VmMirror -Confirm:$false)
        $r.Count | Should -Be 1
        $r[0].PSObject.TypeNames[0] | Should -Be 'VmMirror.SyncReport'
        $r[0].Module | Should -Be $script:Vm.Name
        $r[0].ToGeneration | Should -Be ($r[0].FromGeneration + 1)
        $r[0].FromGeneration | Should -BeGreaterOrEqual $before
        $r[0].StartedAt | Should -BeOfType [datetime]
        $r[0].FinishedAt | Should -BeOfType [datetime]
        $r[0].FinishedAt | Should -BeGreaterOrEqual $r[0].StartedAt
        , $r[0].Files | Should -BeOfType [array]
        $r[0].Files.Count | Should -Be 1
    }

    It 'Sync-VmMirror on the secondary: MODULE_NOT_PRIMARY,Sync-VmMirror; -ErrorAction Stop makes it terminating' {
        $out = @(Sync-VmMirror -Name $script:Vm.Name -ConfigDirectory $script:Hvb -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue)
        $out.Count | Should -Be 0
        $ev[0].FullyQualifiedErrorId | Should -Be 'MODULE_NOT_PRIMARY,Sync-VmMirror'
        $ev[0].CategoryInfo.Category | Should -Be 'InvalidOperation'
        $ev[0].Exception.Data['ExitCode'] | Should -Be 2
        { Sync-VmMirror -Name $script:Vm.Name -ConfigDirectory $script:Hvb -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'MODULE_NOT_PRIMARY,Sync-VmMirror'
    }

    It 'Sync-VmMirror with hostile names: the real CLI gets each one whole, as data (MODULE_NOT_FOUND naming it)' {
        foreach ($n in @($script:Hostile, '--help', '-h')) {
            $null = Sync-VmMirror -Name $n -ConfigDirectory $script:Hva -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
            $ev[0].FullyQualifiedErrorId | Should -Be 'MODULE_NOT_FOUND,Sync-VmMirror'
            $ev[0].Exception.Message | Should -BeLike ('*' + [WildcardPattern]::Escape((ConvertTo-Json -InputObject $n -Compress)) + '*')
        }
        Test-Path -LiteralPath $script:Canary | Should -BeFalse
    }

    It 'Test-VmMirrorConfig: valid on both hosts; a folder without configuration is a result with its problems, not an error' {
        foreach ($dir in $script:Hva, $script:Hvb) {
            $v = Test-VmMirrorConfig -ConfigDirectory $dir
            $v.PSObject.TypeNames[0] | Should -Be 'VmMirror.ConfigValidation'
            $v.Valid | Should -BeTrue
            $v.ModuleCount | Should -Be 1
            , $v.Problems | Should -BeOfType [array]
            $v.Problems.Count | Should -Be 0
            Test-VmMirrorConfig -ConfigDirectory $dir -Quiet | Should -BeExactly $true
        }
        $empty = Join-Path $TestDrive 'empty-config'
        New-Item -ItemType Directory -Path $empty | Out-Null
        $bad = Test-VmMirrorConfig -ConfigDirectory $empty -ErrorVariable ev
        $ev.Count | Should -Be 0
        $bad.Valid | Should -BeFalse
        $bad.Problems.Count | Should -BeGreaterOrEqual 1
        $bad.Problems[0].PSObject.TypeNames[0] | Should -Be 'VmMirror.ConfigProblem'
        @($bad.Problems | ForEach-Object { $_.File }) | Should -Contain 'cluster.json'
        Test-VmMirrorConfig -ConfigDirectory $empty -Quiet | Should -BeExactly $false
    }

    It 'Get-VmMirrorStatus on a folder without configuration: an ErrorRecord with the CLI code' {
        $raw = Get-RawDocument @('status', '--json', "--dir=$(Join-Path $TestDrive 'nothing')")
        $out = @(Get-VmMirrorStatus -ConfigDirectory (Join-Path $TestDrive 'nothing') -ErrorVariable ev -ErrorAction SilentlyContinue)
        $out.Count | Should -Be 0
        $ev.Count | Should -Be 1
        $ev[0].FullyQualifiedErrorId | Should -Be "$($raw.Error.Code),Get-VmMirrorStatus"
        $ev[0].Exception.Message | Should -Be $raw.Error.Message
    }

    # The moves last: they change who runs the VM (the lab is made with --failback manual, so only these move it).
    It 'Invoke-VmMirrorFailover -Plan: the agent checks and answers; nothing moves' {
        $p = Invoke-VmMirrorFailover -Name $script:Vm.Name -Plan -ConfigDirectory $script:Hva
        $p.PSObject.TypeNames[0] | Should -Be 'VmMirror.Switchover'
        $p.WhatIf | Should -BeTrue
        $p.From | Should -Be 'hva'
        $p.To | Should -Be 'hvb'
        $p.Result | Should -BeNullOrEmpty
        , $p.Checks | Should -BeOfType [array]
        $p.Checks.Count | Should -BeGreaterOrEqual 1
        @($p.Checks | ForEach-Object { $_.PSObject.TypeNames[0] } | Sort-Object -Unique) | Should -Be @('VmMirror.SwitchoverCheck')
        @($p.Checks | Where-Object { -not $_.Passed }) | Should -BeNullOrEmpty
        @(Get-VmMirrorModule -ConfigDirectory $script:Hva)[0].State | Should -Be 'PRIM'
    }

    It 'Invoke-VmMirrorFailback of a module already home: SWITCHOVER_REFUSED,Invoke-VmMirrorFailback, nothing moved' {
        $out = @(Invoke-VmMirrorFailback -Name $script:Vm.Name -ConfigDirectory $script:Hva -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue)
        $out.Count | Should -Be 0
        $ev[0].FullyQualifiedErrorId | Should -Be 'SWITCHOVER_REFUSED,Invoke-VmMirrorFailback'
        $ev[0].CategoryInfo.Category | Should -Be 'InvalidOperation'
        $ev[0].Exception.Data['Details'].Module | Should -Be $script:Vm.Name
        @(Get-VmMirrorModule -ConfigDirectory $script:Hva)[0].State | Should -Be 'PRIM'
    }

    It 'Invoke-VmMirrorFailover by VM name moves it to hvb; piped from Get-VmMirrorModule, Invoke-VmMirrorFailback brings it home' {
        $r = Invoke-VmMirrorFailover -Name $script:Vm.VmName -To hvb -ConfigDirectory $script:Hva -Confirm:$false
        $r.PSObject.TypeNames[0] | Should -Be 'VmMirror.Switchover'
        $r.Module | Should -Be $script:Vm.Name
        $r.To | Should -Be 'hvb'
        $r.Result.PSObject.TypeNames[0] | Should -Be 'VmMirror.SwitchoverResult'
        $r.Result.Epoch | Should -BeGreaterThan $r.Epoch
        $r.Result.DowntimeMs | Should -BeGreaterThan 0
        $r.Result.FinishedAt | Should -BeOfType [datetime]
        $r.Result.FinishedAt.Kind | Should -Be 'Utc'
        # The new owner is ALONE until its heartbeats and the peer's agree the old copy is its replica (SECOND): wait for PRIM.
        $onB = Wait-LabModuleState -ConfigDirectory $script:Hvb -State 'PRIM'
        $onB.State | Should -Be 'PRIM'
        $onB.Owner | Should -Be 'hvb'
        # The failback's own conditions, as hva sees them: hva holds the replica (SECOND, VM off) and
        # has heard hvb run it as PRIM at the same epoch. Wait for that state, with a deadline.
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        for (;;) {
            $a = @(Get-VmMirrorModule -ConfigDirectory $script:Hva)[0]
            if ($a.State -eq 'SECOND' -and $a.VmActivity -eq 'off' -and $a.PeerState -eq 'PRIM' -and $a.PeerEpoch -eq $a.Epoch -and $a.PeerVmActivity -eq 'running') { break }
            if ([DateTime]::UtcNow -gt $deadline) { throw "hva is not ready for the failback 60 s after the failover: $($a.State), peer $($a.PeerState) at epoch $($a.PeerEpoch) (here $($a.Epoch))" }
            Start-Sleep -Milliseconds 200
        }
        $away = @(Get-VmMirrorModule -ConfigDirectory $script:Hva | Where-Object { $_.Owner -ne $_.DefaultPrimary })
        $away.Count | Should -Be 1
        $back = @($away | Invoke-VmMirrorFailback -Confirm:$false)
        $back.Count | Should -Be 1
        $back[0].Action | Should -Be 'failback'
        $back[0].From | Should -Be 'hvb'
        $back[0].To | Should -Be 'hva'
        $back[0].Result.Epoch | Should -BeGreaterThan $r.Result.Epoch
        $backHome = Wait-LabModuleState -ConfigDirectory $script:Hva -State 'PRIM'
        $backHome.State | Should -Be 'PRIM'
        $backHome.Owner | Should -Be 'hva'
    }
}
