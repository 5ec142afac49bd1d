<#
.SYNOPSIS
    Checks every Hyper-V cmdlet call in the given scripts against the real module's signatures.
.DESCRIPTION
    Parses each .ps1/.psm1 under -Root (a folder, searched recursively, or one file) with the PowerShell parser and, for every command that names a Hyper-V cmdlet
    (Hyper-V\Get-VM or bare Get-VM), binds its arguments the way PowerShell's binder would against
    the facts in test/hypervisor/hyperv-signatures.json (Hyper-V module 2.0.0.0): named parameters
    (full name, alias or unique prefix), parameters splatted from hashtables built in the same file,
    positional arguments and pipeline input. Writes one JSON object:
    { Files: [paths], Calls: n, Findings: [{ File, Line, Command, Rule, Detail, Text }] } with Rule one of UnknownCmdlet,
    Unqualified, UnknownParameter, AmbiguousParameter, DuplicateParameter, UnresolvedSplat, NoParameterSet.
#>
[CmdletBinding()]
param([Parameter(Mandatory = $true)][string]$SignaturesPath, [Parameter(Mandatory = $true)][string]$Root)
$ErrorActionPreference = 'Stop'
. (Join-Path $PSScriptRoot 'HyperVCallBinding.ps1')

$signatures = (Get-Content -LiteralPath $SignaturesPath -Raw | ConvertFrom-Json).Cmdlets
$cmdletNames = @{}
foreach ($p in $signatures.PSObject.Properties) { $cmdletNames[$p.Name.ToLowerInvariant()] = $p.Name }

$findings = New-Object System.Collections.ArrayList
$calls = 0
$files = @(Get-ChildItem -LiteralPath $Root -Recurse -File | Where-Object { @('.ps1', '.psm1') -contains $_.Extension } | Sort-Object FullName | ForEach-Object { $_.FullName })
foreach ($file in $files) {
    $tokens = $null; $errors = $null
    $ast = [System.Management.Automation.Language.Parser]::ParseFile($file, [ref]$tokens, [ref]$errors)
    if (@($errors).Count -gt 0) { throw "cannot parse ${file}: $($errors[0].Message)" }
    $splats = Get-SplatKeyMap -Ast $ast
    foreach ($cmd in @($ast.FindAll({ param($n) $n -is [System.Management.Automation.Language.CommandAst] }, $true))) {
        $name = $cmd.GetCommandName()
        if (-not $name) { continue }
        $qualified = $name -like 'Hyper-V\*'
        $bare = $name -replace '^Hyper-V\\', ''
        $add = {
            param([string]$Rule, [string]$Command, [string]$Detail = '')
            $text = $cmd.Extent.Text
            if ($text.Length -gt 160) { $text = $text.Substring(0, 160) }
            [void]$findings.Add([ordered]@{ File = $file; Line = $cmd.Extent.StartLineNumber; Command = $Command; Rule = $Rule; Detail = $Detail; Text = $text })
        }
        if (-not $cmdletNames.ContainsKey($bare.ToLowerInvariant())) {
            if ($qualified) { & $add 'UnknownCmdlet' $name }
            continue
        }
        $calls++
        $real = $cmdletNames[$bare.ToLowerInvariant()]
        if (-not $qualified) { & $add 'Unqualified' $real }
        foreach ($problem in @(Test-HyperVCallBinding -Command $cmd -Signature $signatures.$real -Splats $splats)) {
            & $add $problem.Rule $real $problem.Detail
        }
    }
}
Write-Output (ConvertTo-Json -InputObject @{ Files = @($files); Calls = $calls; Findings = @($findings.ToArray()) } -Depth 5 -Compress)
