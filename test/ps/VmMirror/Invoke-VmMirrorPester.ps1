<#
.SYNOPSIS
    Runs the VmMirror module's Pester tests (this folder's *.Tests.ps1) and writes one JSON summary line.
.DESCRIPTION
    Kept apart from test/ps/Invoke-PesterSuite.ps1 (which runs test/ps/*.Tests.ps1 only, not this
    folder): these tests need the lab that test/ps/vmmirror-module.test.ts starts around them.
#>
[CmdletBinding()]
param([Parameter(Mandatory = $true)][string]$PesterPath)
$ErrorActionPreference = 'Stop'
Import-Module $PesterPath -Force
$config = New-PesterConfiguration
$config.Run.Path = @(Get-ChildItem -LiteralPath $PSScriptRoot -Filter '*.Tests.ps1' | ForEach-Object { $_.FullName })
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
