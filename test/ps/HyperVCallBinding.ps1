# Binding rules for Find-HyperVCallMismatch.ps1: resolves the arguments of one CommandAst against one
# cmdlet's facts (hyperv-signatures.json) the way PowerShell's parameter binder does, minus type
# conversion (the facts' types are Hyper-V classes this machine does not have).

$script:CommonWithValue = @('ErrorAction', 'WarningAction', 'InformationAction', 'ProgressAction', 'ErrorVariable',
    'WarningVariable', 'InformationVariable', 'OutVariable', 'OutBuffer', 'PipelineVariable')
$script:CommonSwitches = @('Verbose', 'Debug')
$script:CommonAliases = @{ ea = 'ErrorAction'; wa = 'WarningAction'; infa = 'InformationAction'; proga = 'ProgressAction'
    ev = 'ErrorVariable'; wv = 'WarningVariable'; iv = 'InformationVariable'; ov = 'OutVariable'; ob = 'OutBuffer'
    pv = 'PipelineVariable'; vb = 'Verbose'; db = 'Debug'; wi = 'WhatIf'; cf = 'Confirm' }

function Get-SplatKeyMap {
    # Variable name (lower case) -> @{ Keys; Resolved } for every variable in the file that is built
    # as a hashtable: '$p = @{ A = 1 }', '$p.B = 2', '$p['C'] = 3', '$p.Add('D', 4)'. File-wide and
    # not scope-aware: a key added anywhere (even conditionally) counts, which is the strict choice.
    # Any other assignment to the variable, or a key that is not a constant, makes it unresolved.
    param([Parameter(Mandatory = $true)]$Ast)
    $map = @{}
    $entry = {
        param([string]$Name)
        $k = $Name.ToLowerInvariant() -replace '^(script|local|global|private):', ''
        if (-not $map.ContainsKey($k)) { $map[$k] = @{ Keys = New-Object System.Collections.ArrayList; Resolved = $true } }
        $map[$k]
    }
    $addKey = {
        param($Entry, $KeyAst)
        if ($KeyAst -is [System.Management.Automation.Language.StringConstantExpressionAst]) { [void]$Entry.Keys.Add([string]$KeyAst.Value) }
        else { $Entry.Resolved = $false }
    }
    foreach ($n in @($Ast.FindAll({ param($x) $x -is [System.Management.Automation.Language.AssignmentStatementAst] }, $true))) {
        $left = $n.Left
        if ($left -is [System.Management.Automation.Language.ConvertExpressionAst]) { $left = $left.Child }
        if ($left -is [System.Management.Automation.Language.VariableExpressionAst]) {
            $e = & $entry $left.VariablePath.UserPath
            $right = $n.Right
            if ($right -is [System.Management.Automation.Language.CommandExpressionAst]) { $right = $right.Expression }
            if ($right -is [System.Management.Automation.Language.ConvertExpressionAst]) { $right = $right.Child }
            if ($right -is [System.Management.Automation.Language.HashtableAst]) {
                foreach ($pair in $right.KeyValuePairs) { & $addKey $e $pair.Item1 }
            } else { $e.Resolved = $false }
        } elseif ($left -is [System.Management.Automation.Language.MemberExpressionAst] -and $left.Expression -is [System.Management.Automation.Language.VariableExpressionAst]) {
            & $addKey (& $entry $left.Expression.VariablePath.UserPath) $left.Member
        } elseif ($left -is [System.Management.Automation.Language.IndexExpressionAst] -and $left.Target -is [System.Management.Automation.Language.VariableExpressionAst]) {
            & $addKey (& $entry $left.Target.VariablePath.UserPath) $left.Index
        }
    }
    foreach ($n in @($Ast.FindAll({ param($x) $x -is [System.Management.Automation.Language.InvokeMemberExpressionAst] }, $true))) {
        if ($n.Expression -is [System.Management.Automation.Language.VariableExpressionAst] -and [string]$n.Member.Value -eq 'Add' -and @($n.Arguments).Count -ge 1) {
            & $addKey (& $entry $n.Expression.VariablePath.UserPath) $n.Arguments[0]
        }
    }
    $map
}

function Resolve-HyperVParameterName {
    # The canonical name for what was typed (full name, alias or unique prefix), or a problem.
    param([Parameter(Mandatory = $true)][string]$Typed, [Parameter(Mandatory = $true)]$Signature)
    $names = @{}
    foreach ($p in $Signature.Parameters.PSObject.Properties) {
        $names[$p.Name.ToLowerInvariant()] = $p.Name
        foreach ($a in @($p.Value.Aliases)) { $names[([string]$a).ToLowerInvariant()] = $p.Name }
    }
    foreach ($c in ($script:CommonWithValue + $script:CommonSwitches)) { $names[$c.ToLowerInvariant()] = $c }
    foreach ($a in $script:CommonAliases.Keys) { $names[$a] = $script:CommonAliases[$a] }
    if ($Signature.ShouldProcess) { $names['whatif'] = 'WhatIf'; $names['confirm'] = 'Confirm' }
    else { $names.Remove('wi'); $names.Remove('cf') }
    $t = $Typed.ToLowerInvariant()
    if ($names.ContainsKey($t)) { return @{ Name = $names[$t] } }
    $matched = @($names.Keys | Where-Object { $_.StartsWith($t) } | ForEach-Object { $names[$_] } | Sort-Object -Unique)
    if ($matched.Count -eq 1) { return @{ Name = $matched[0] } }
    if ($matched.Count -gt 1) { return @{ Problem = 'AmbiguousParameter'; Detail = "-$Typed could be -$($matched -join ', -')" } }
    @{ Problem = 'UnknownParameter'; Detail = "-$Typed" }
}

function Test-HyperVSetBinds {
    # Whether parameter set $Set accepts the named parameters, $Positional positional arguments and
    # (with $Piped) pipeline input, with every parameter the set makes mandatory supplied.
    param([Parameter(Mandatory = $true)][string]$Set, [Parameter(Mandatory = $true)]$Signature, [string[]]$Named, [int]$Positional, [bool]$Piped)
    $inSet = @{}
    foreach ($p in $Signature.Parameters.PSObject.Properties) {
        $s = $p.Value.Sets.PSObject.Properties[$Set]
        if ($null -eq $s) { $s = $p.Value.Sets.PSObject.Properties['__AllParameterSets'] }
        if ($null -ne $s) { $inSet[$p.Name] = $s.Value }
    }
    $bound = @{}
    foreach ($n in @($Named)) {
        if (($script:CommonWithValue + $script:CommonSwitches + @('WhatIf', 'Confirm')) -contains $n) { continue }
        if (-not $inSet.ContainsKey($n)) { return $false }
        $bound[$n] = $true
    }
    $free = @($inSet.Keys | Where-Object { -not $bound.ContainsKey($_) -and $null -ne $inSet[$_].Position } | Sort-Object { [int]$inSet[$_].Position })
    if ($Positional -gt $free.Count) { return $false }
    for ($i = 0; $i -lt $Positional; $i++) { $bound[$free[$i]] = $true }
    $missing = @($inSet.Keys | Where-Object { -not $bound.ContainsKey($_) -and $inSet[$_].Mandatory })
    if ($Piped) {
        $pipeable = @($inSet.Keys | Where-Object { -not $bound.ContainsKey($_) -and $inSet[$_].Pipeline })
        if ($pipeable.Count -eq 0) { return $false }
        # The pipeline feeds one parameter: a missing mandatory one if it can, else any.
        $fed = @($missing | Where-Object { $pipeable -contains $_ })
        if ($fed.Count -gt 0) { $missing = @($missing | Where-Object { $_ -ne $fed[0] }) }
    }
    $missing.Count -eq 0
}

function Test-HyperVCallBinding {
    # Problems binding one call: @{ Rule; Detail } each. Empty when some parameter set accepts it.
    param([Parameter(Mandatory = $true)]$Command, [Parameter(Mandatory = $true)]$Signature, [Parameter(Mandatory = $true)][hashtable]$Splats)
    $problems = New-Object System.Collections.ArrayList
    $named = New-Object System.Collections.ArrayList
    $positional = 0
    $bindName = {
        param([string]$Typed)
        $r = Resolve-HyperVParameterName -Typed $Typed -Signature $Signature
        if ($r.Problem) { [void]$problems.Add(@{ Rule = $r.Problem; Detail = $r.Detail }); return $null }
        if ($named -contains $r.Name) { [void]$problems.Add(@{ Rule = 'DuplicateParameter'; Detail = "-$($r.Name)" }) }
        else { [void]$named.Add($r.Name) }
        $r.Name
    }
    $elements = $Command.CommandElements
    for ($i = 1; $i -lt $elements.Count; $i++) {
        $e = $elements[$i]
        if ($e -is [System.Management.Automation.Language.CommandParameterAst]) {
            $name = & $bindName $e.ParameterName
            if ($null -eq $name -or $null -ne $e.Argument) { continue }
            $takesValue = $script:CommonWithValue -contains $name
            $p = $Signature.Parameters.PSObject.Properties[$name]
            if ($null -ne $p -and $p.Value.Type -ne 'switch') { $takesValue = $true }
            $next = $null
            if ($i + 1 -lt $elements.Count) { $next = $elements[$i + 1] }
            if ($takesValue -and $null -ne $next -and -not ($next -is [System.Management.Automation.Language.CommandParameterAst])) { $i++ }
        } elseif ($e -is [System.Management.Automation.Language.VariableExpressionAst] -and $e.Splatted) {
            $key = $e.VariablePath.UserPath.ToLowerInvariant() -replace '^(script|local|global|private):', ''
            $s = $Splats[$key]
            if ($null -eq $s -or -not $s.Resolved) { [void]$problems.Add(@{ Rule = 'UnresolvedSplat'; Detail = "@$($e.VariablePath.UserPath)" }); continue }
            foreach ($k in $s.Keys) { [void](& $bindName $k) }
        } else {
            $positional++
        }
    }
    if ($problems.Count -gt 0) { return @($problems.ToArray()) }
    $piped = $false
    $pipeline = $Command.Parent
    if ($pipeline -is [System.Management.Automation.Language.PipelineAst]) { $piped = $pipeline.PipelineElements.IndexOf($Command) -gt 0 }
    $sets = @($Signature.Parameters.PSObject.Properties | ForEach-Object { $_.Value.Sets.PSObject.Properties.Name } | Where-Object { $_ -ne '__AllParameterSets' } | Sort-Object -Unique)
    if ($sets.Count -eq 0) { $sets = @('__AllParameterSets') }
    foreach ($set in $sets) {
        if (Test-HyperVSetBinds -Set $set -Signature $Signature -Named @($named.ToArray()) -Positional $positional -Piped $piped) { return @() }
    }
    $shown = (@($named.ToArray()) | ForEach-Object { "-$_" }) -join ' '
    @(@{ Rule = 'NoParameterSet'; Detail = "no parameter set of $($sets -join '/') takes [$shown] with $positional positional argument(s), pipeline input: $piped" })
}
