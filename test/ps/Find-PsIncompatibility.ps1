<#
.SYNOPSIS
    Finds syntax that Windows PowerShell 5.1 lacks, and breaches of the driver script contract.
.DESCRIPTION
    Parses every .ps1/.psm1 under -Root with the PowerShell parser and walks the AST. Writes one JSON
    object: { Files: [paths], Findings: [{ File, Line, Rule, Text }] }. Driver scripts (top-level
    *-Mirror*.ps1) are also checked against docs/ps-contract.md.
#>
[CmdletBinding()]
param([Parameter(Mandatory = $true)][string]$Root)
$ErrorActionPreference = 'Stop'

$findings = New-Object System.Collections.ArrayList
function Add-Finding($File, $Extent, [string]$Rule) {
    $line = 0; $text = ''
    if ($null -ne $Extent) { $line = $Extent.StartLineNumber; $text = $Extent.Text; if ($text.Length -gt 120) { $text = $text.Substring(0, 120) } }
    [void]$findings.Add([ordered]@{ File = [string]$File; Line = $line; Rule = $Rule; Text = $text })
}

$ps7Commands = @('Join-String', 'Test-Json', 'Get-Error', 'ConvertFrom-Markdown', 'Show-Markdown', 'Get-MarkdownOption', 'Set-MarkdownOption')
$ps7Parameters = @{ 'ConvertTo-Json' = @('AsArray', 'EnumsAsStrings', 'EscapeHandling'); 'ConvertFrom-Json' = @('AsHashtable', 'NoEnumerate', 'DateKind'); 'ForEach-Object' = @('Parallel', 'ThrottleLimit', 'TimeoutSeconds', 'AsJob') }
$approved = @(Get-Verb | ForEach-Object { $_.Verb })

$files = @(Get-ChildItem -LiteralPath $Root -Recurse -File | Where-Object { @('.ps1', '.psm1') -contains $_.Extension } | Sort-Object FullName)
foreach ($f in $files) {
    $tokens = $null; $errors = $null
    $ast = [System.Management.Automation.Language.Parser]::ParseFile($f.FullName, [ref]$tokens, [ref]$errors)
    foreach ($e in @($errors)) { Add-Finding $f.FullName $e.Extent "ParseError: $($e.Message)" }

    $all = @($ast.FindAll({ $true }, $true))
    foreach ($n in $all) {
        $type = $n.GetType().Name
        if ($type -eq 'TernaryExpressionAst') { Add-Finding $f.FullName $n.Extent 'Ternary' }
        elseif ($type -eq 'PipelineChainAst') { Add-Finding $f.FullName $n.Extent 'PipelineChain' }
        elseif ($type -eq 'BinaryExpressionAst' -and $n.Operator.ToString() -eq 'QuestionQuestion') { Add-Finding $f.FullName $n.Extent 'NullCoalescing' }
        elseif ($type -eq 'AssignmentStatementAst' -and $n.Operator.ToString() -eq 'QuestionQuestionEquals') { Add-Finding $f.FullName $n.Extent 'NullCoalescingAssignment' }
        elseif (@('MemberExpressionAst', 'InvokeMemberExpressionAst', 'IndexExpressionAst') -contains $type -and $n.PSObject.Properties['NullConditional'] -and $n.NullConditional) { Add-Finding $f.FullName $n.Extent 'NullConditional' }
        elseif ($type -eq 'ScriptBlockAst' -and $n.PSObject.Properties['CleanBlock'] -and $null -ne $n.CleanBlock) { Add-Finding $f.FullName $n.CleanBlock.Extent 'CleanBlock' }
        elseif ($type -eq 'CommandAst') {
            $name = $n.GetCommandName()
            if ($name -eq '%' -or $name -eq 'foreach') { $name = 'ForEach-Object' }
            if ($ps7Commands -contains $name) { Add-Finding $f.FullName $n.Extent "Ps7Command: $name" }
            $params = @($n.CommandElements | Where-Object { $_ -is [System.Management.Automation.Language.CommandParameterAst] } | ForEach-Object { $_.ParameterName })
            if ($ps7Parameters.ContainsKey([string]$name)) {
                foreach ($p in $params) {
                    foreach ($bad in $ps7Parameters[$name]) { if ($bad -like "$p*" -and $p.Length -ge 3) { Add-Finding $f.FullName $n.Extent "Ps7Parameter: $name -$bad" } }
                }
            }
            if ($name -eq 'ConvertTo-Json' -and -not (@($params | Where-Object { 'Depth' -like "$_*" }).Count)) { Add-Finding $f.FullName $n.Extent 'JsonDepthMissing' }
        }
    }
    foreach ($t in @($tokens)) {
        if (@('AndAnd', 'OrOr') -contains $t.Kind.ToString()) { Add-Finding $f.FullName $t.Extent "Token: $($t.Text)" }
    }

    $isDriver = $f.Directory.FullName -eq (Get-Item -LiteralPath $Root).FullName -and $f.Name -like '*-Mirror*.ps1'
    if (-not $isDriver) { continue }
    $verb = $f.BaseName.Split('-')[0]
    if ($approved -notcontains $verb) { Add-Finding $f.FullName $null "UnapprovedVerb: $verb" }
    $help = $ast.GetHelpContent()
    if ($null -eq $help -or -not $help.Synopsis) { Add-Finding $f.FullName $null 'HelpMissing' }
    $pb = $ast.ParamBlock
    if ($null -eq $pb -or -not @($pb.Attributes | Where-Object { $_.TypeName.Name -eq 'CmdletBinding' }).Count) { Add-Finding $f.FullName $null 'CmdletBindingMissing' }
    $ps = @(); if ($null -ne $pb) { $ps = @($pb.Parameters) }
    $ok = $ps.Count -eq 1 -and $ps[0].Name.VariablePath.UserPath -eq 'InputBase64'
    if ($ok) {
        $mandatory = @($ps[0].Attributes | Where-Object { $_.TypeName.Name -eq 'Parameter' } | ForEach-Object { $_.NamedArguments } |
            Where-Object { $_.ArgumentName -eq 'Mandatory' -and ($_.ExpressionOmitted -or $_.Argument.Extent.Text -eq '$true') })
        $ok = $mandatory.Count -eq 1
    }
    if (-not $ok) { Add-Finding $f.FullName $pb.Extent 'InputBase64ParameterMissing' }
    $top = @($ast.EndBlock.Statements)
    $eap = @($top | Where-Object { $_ -is [System.Management.Automation.Language.AssignmentStatementAst] -and $_.Left.Extent.Text -eq '$ErrorActionPreference' -and $_.Right.Extent.Text -eq "'Stop'" })
    if ($eap.Count -ne 1) { Add-Finding $f.FullName $null 'ErrorActionPreferenceStopMissing' }
    $rest = @($top | Where-Object { -not ($_ -is [System.Management.Automation.Language.AssignmentStatementAst]) })
    if ($rest.Count -ne 1 -or -not ($rest[0] -is [System.Management.Automation.Language.TryStatementAst]) -or @($rest[0].CatchClauses).Count -lt 1) {
        Add-Finding $f.FullName $null 'BodyNotInOneTry'
    }
}
$out = @{ Files = @($files | ForEach-Object { $_.FullName }); Findings = @($findings.ToArray()) }
Write-Output (ConvertTo-Json -InputObject $out -Depth 5 -Compress)
