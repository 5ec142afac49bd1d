# Register-MirrorReplicaVm against the stateful mock Hyper-V: the script looks a registered VM up by
# the .vmcx's file name (<VmId>.vmcx) but Import-VM registers whatever VM the contents name. A file
# whose contents name another VM must be refused (VM_CONFIG_INVALID) before anything is imported.
BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $global:RegTestDir = Join-Path ([IO.Path]::GetTempPath()) ('mockhv-reg-' + [guid]::NewGuid())
    Set-MockHyperVState -Path $global:RegTestDir

    function New-TestExport {
        # A config-only export folder holding one .vmcx of $Vm, named by $FileId.
        param([hashtable]$Vm, [string]$FileId)
        $dir = Join-Path $global:RegTestDir ('export-' + [guid]::NewGuid())
        $vms = Join-Path $dir 'Virtual Machines'
        [void](New-Item -ItemType Directory -Force -Path $vms)
        [void](Write-MockVmcx -Vm $Vm -Directory $vms -FileId $FileId)
        $dir
    }
    function Get-TestVmSummary {
        # Every registered VM as "id=disk paths", sorted: what a refused registration must leave as it was.
        @((Get-MockState).Vms | ForEach-Object { '{0}={1}' -f ([string]$_.Id).ToLowerInvariant(), ((@($_.Disks) | ForEach-Object { [string]$_.Path }) -join ';') } | Sort-Object)
    }
}
AfterAll { Remove-Item -LiteralPath $global:RegTestDir -Recurse -Force -ErrorAction SilentlyContinue }

Describe 'Register-MirrorReplicaVm: the .vmcx file name against the VM id inside' {
    It 'refuses a .vmcx whose contents name another VM (unknown here, or an Off victim registered here): VM_CONFIG_INVALID, nothing imported; the honest file imports' {
        $victim = New-MockVm -Name 'victim' -Disks @(@{ Path = (Join-Path $global:RegTestDir 'd/victim.vhdx'); SizeBytes = 1MB })
        # web1 as the other host exported it: its record, then gone from this host (only its copy is here).
        $web1 = New-MockVm -Name 'web1' -Disks @(@{ Path = (Join-Path $global:RegTestDir 'd/web1.vhdx'); SizeBytes = 1MB })
        $st = Get-MockState
        $record = @($st.Vms | Where-Object { [string]$_.Id -eq $web1 })[0]
        $st.Vms = @($st.Vms | Where-Object { [string]$_.Id -ne $web1 })
        Save-MockState $st
        $copy = Join-Path $global:RegTestDir 'd/web1-copy.vhdx'
        Copy-Item -LiteralPath (Join-Path $global:RegTestDir 'd/web1.vhdx') -Destination $copy
        $before = Get-TestVmSummary
        $before.Count | Should -Be 1

        foreach ($other in @([string][guid]::NewGuid(), [string]$victim)) {
            $forged = $record.Clone()
            $forged.Id = $other
            $dir = New-TestExport -Vm $forged -FileId $web1
            $r = Invoke-DriverScript 'Register-MirrorReplicaVm' @{ ConfigDir = $dir; DiskPaths = @($copy); TimeoutMs = 5000 }
            $r.Ok | Should -BeFalse
            $r.Error.Code | Should -Be 'VM_CONFIG_INVALID'
            $r.Error.Details.ContentVmId | Should -Be $other
            $r.Error.Details.FileVmId | Should -Be $web1.ToUpperInvariant()
            Get-TestVmSummary | Should -Be $before
        }

        $dir = New-TestExport -Vm $record -FileId $web1
        $r = Invoke-DriverScript 'Register-MirrorReplicaVm' @{ ConfigDir = $dir; DiskPaths = @($copy); TimeoutMs = 5000 }
        $r.Ok | Should -BeTrue
        $r.Result.Id | Should -Be $web1
        Get-TestVmSummary | Should -Be (@($before) + @("$web1=$copy") | Sort-Object)
    }
}
