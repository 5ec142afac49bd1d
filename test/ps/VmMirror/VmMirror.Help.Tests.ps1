# The module as a user meets it: the manifest, approved verbs, comment-based help with examples on
# every cmdlet (Get-Help -Full), -WhatIf/-Confirm where VMs move, pipeline binding by property name.
Describe 'VmMirror module surface' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'Common.ps1')
        $script:Exported = @('Get-VmMirrorModule', 'Get-VmMirrorStatus', 'Invoke-VmMirrorFailback', 'Invoke-VmMirrorFailover',
            'Resume-VmMirrorHost', 'Suspend-VmMirrorHost', 'Sync-VmMirror', 'Test-VmMirrorConfig')
        $script:Moving = @('Invoke-VmMirrorFailback', 'Invoke-VmMirrorFailover', 'Resume-VmMirrorHost', 'Suspend-VmMirrorHost', 'Sync-VmMirror')
    }

    It 'the manifest is valid and exports exactly the eight cmdlets, each with an approved verb' {
        $m = Test-ModuleManifest -Path $script:ModuleManifest
        $m.Name | Should -Be 'VmMirror'
        @($m.ExportedFunctions.Keys | Sort-Object) | Should -Be $script:Exported
        @((Get-Module VmMirror).ExportedCommands.Keys | Sort-Object) | Should -Be $script:Exported
        $approved = @(Get-Verb | ForEach-Object { $_.Verb })
        foreach ($c in $script:Exported) { $approved | Should -Contain $c.Split('-')[0] }
    }

    It 'imports without a warning (unapproved verbs, formats) and keeps its helpers private' {
        Import-Module $script:ModuleManifest -Force -WarningVariable warnings 3>$null
        @($warnings).Count | Should -Be 0
        Get-Command -Name 'Invoke-VmMirrorCli' -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        @((Get-Module VmMirror).ExportedVariables.Keys).Count | Should -Be 0
    }

    It '<Name> has comment-based help: synopsis, description, every parameter described, examples that use it' -ForEach @(
        @{ Name = 'Get-VmMirrorStatus' }, @{ Name = 'Get-VmMirrorModule' }, @{ Name = 'Invoke-VmMirrorFailover' },
        @{ Name = 'Invoke-VmMirrorFailback' }, @{ Name = 'Sync-VmMirror' }, @{ Name = 'Suspend-VmMirrorHost' },
        @{ Name = 'Resume-VmMirrorHost' }, @{ Name = 'Test-VmMirrorConfig' }
    ) {
        $help = Get-Help $Name -Full
        $help.Synopsis | Should -Not -BeNullOrEmpty
        $help.Synopsis | Should -Not -Match ([regex]::Escape($Name) + ' \[')  # not the generated syntax line
        (@($help.Description) | ForEach-Object { $_.Text }) -join ' ' | Should -Match '--json'
        $examples = @($help.Examples.Example)
        $examples.Count | Should -BeGreaterOrEqual 2
        foreach ($e in $examples) {
            $e.Code | Should -Match ([regex]::Escape($Name))
            (@($e.Remarks) | ForEach-Object { $_.Text }) -join '' | Should -Not -BeNullOrEmpty
        }
        $common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
        foreach ($p in @((Get-Command $Name).Parameters.Keys | Where-Object { $common -notcontains $_ })) {
            $ph = @($help.parameters.parameter | Where-Object { $_.Name -eq $p })
            ((@($ph[0].Description) | ForEach-Object { $_.Text }) -join '') | Should -Not -BeNullOrEmpty -Because "parameter -$p of $Name"
        }
        (Get-Help $Name -Full | Out-String -Width 200) | Should -Match 'EXAMPLE 1'
    }

    It 'the cmdlets that move VMs support -WhatIf and -Confirm; the ones that only read do not' {
        foreach ($c in $script:Exported) {
            $params = (Get-Command $c).Parameters
            if ($script:Moving -contains $c) {
                $params.ContainsKey('WhatIf') | Should -BeTrue -Because $c
                $params.ContainsKey('Confirm') | Should -BeTrue -Because $c
            } else {
                $params.ContainsKey('WhatIf') | Should -BeFalse -Because $c
            }
        }
    }

    It 'names and config folders bind from the pipeline by property name' {
        foreach ($c in $script:Moving) {
            $target = 'Name'
            if ($c -like '*Host') { $target = 'HostName' }
            $p = (Get-Command $c).Parameters[$target]
            @($p.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] -and $_.ValueFromPipelineByPropertyName }).Count | Should -Be 1 -Because $c
            $d = (Get-Command $c).Parameters['ConfigDirectory']
            @($d.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] -and $_.ValueFromPipelineByPropertyName }).Count | Should -Be 1 -Because $c
        }
        (Get-Command Suspend-VmMirrorHost).Parameters['HostName'].Aliases | Should -Contain 'Name'
    }
}
