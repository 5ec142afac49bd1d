<#
.SYNOPSIS
    Runs the *.Tests.ps1 of one folder (default test/ps) with the given Pester and writes one JSON summary line.
.DESCRIPTION
    The mocha wrappers of test/ps (pester.test.ts, scheduled-task.test.ts, vmmirror-module.test.ts) each run one folder through it.
#>
[CmdletBinding()]
param([Parameter(Mandatory = $true)][string]$PesterPath, [string]$Dir = $PSScriptRoot)
$ErrorActionPreference = 'Stop'
Import-Module $PesterPath -Force
$config = New-PesterConfiguration
$config.Run.Path = @(Get-ChildItem -LiteralPath $Dir -Filter '*.Tests.ps1' | ForEach-Object { $_.FullName })
$config.Run.PassThru = $true
$config.Output.Verbosity = 'None'
$r = Invoke-Pester -Configuration $config
$tests = @($r.Tests | ForEach-Object {
    $err = ''
    if ($_.ErrorRecord) { $err = (@($_.ErrorRecord) | ForEach-Object { $_.ToString() }) -join '; ' }
    @{ Name = $_.ExpandedPath; Result = [string]$_.Result; Error = $err }
})
$containers = @($r.Containers | Where-Object { @($_.ErrorRecord).Count -gt 0 -or $_.Result -eq 'NotRun' } | ForEach-Object { @{ Path = [string]$_.Item; Result = [string]$_.Result; Error = (@($_.ErrorRecord) | ForEach-Object { $_.ToString() }) -join '; ' } })
Write-Output (ConvertTo-Json -InputObject @{ Passed = $r.PassedCount; Failed = $r.FailedCount; Tests = $tests; BrokenContainers = $containers } -Depth 5 -Compress)
