# The mock's Hyper-V cmdlets take exactly the parameters of the real module 2.0.0.0: the public
# function for every cmdlet is GENERATED here from test/hypervisor/hyperv-signatures.json (the same
# facts the signature checker uses), with the real parameter sets, positions, aliases, pipeline
# input and mandatory flags, so PowerShell's own binder refuses what Hyper-V's would (an unknown
# parameter, two parameters no single set takes, a missing mandatory one). It forwards to the
# mock's implementation (renamed MockImpl_<name>); a cmdlet the mock does not implement throws
# StubNotImplemented. Dot-sourced last by MockHyperV.psm1, after every implementation is defined.
# Types: a real parameter type is kept when it exists here (string, guid, switch, CimSession...);
# Hyper-V's own classes do not, so those parameters are untyped (set resolution by type is lost).

$script:MockSignatures = $script:MockFacts.Cmdlets # read by Private/Enums.ps1
$script:MockCommonParameters = @('Verbose', 'Debug', 'ErrorAction', 'WarningAction', 'InformationAction', 'ProgressAction',
    'ErrorVariable', 'WarningVariable', 'InformationVariable', 'OutVariable', 'OutBuffer', 'PipelineVariable', 'WhatIf', 'Confirm')

function Invoke-MockHyperVImplementation {
    # Runs MockImpl_<Name> with the bound parameters minus the common ones (the preference variables
    # they set in the generated function's scope reach the implementation anyway).
    param([string]$Name, [hashtable]$Bound)
    $forward = @{}
    foreach ($k in @($Bound.Keys)) { if ($script:MockCommonParameters -notcontains $k) { $forward[$k] = $Bound[$k] } }
    $impl = $script:MockImplementations[$Name]
    if ($null -eq $impl) { throw "StubNotImplemented: $Name is not mocked by MockHyperV" }
    foreach ($k in @($forward.Keys)) {
        if (-not $impl.Parameters.ContainsKey($k)) { throw "StubNotImplemented: MockHyperV's $Name does not implement -$k (Hyper-V's does)" }
        # The real parameter may be an array (Get-VHD -Path string[]) where the implementation takes one.
        $v = $forward[$k]
        if ($v -is [array] -and -not $impl.Parameters[$k].ParameterType.IsArray) {
            if ($v.Count -ne 1) { throw "StubNotImplemented: MockHyperV's $Name takes one value for -$k, not $($v.Count)" }
            $forward[$k] = $v[0]
        }
    }
    & $impl @forward
}

$script:MockTypeKnown = @{}
# Cmdlet name -> the implementation's FunctionInfo (looked up once: Get-Command per call is slow).
$script:MockImplementations = @{}
function Add-MockParameterSource {
    # One parameter of a generated param block, appended to $Out (a StringBuilder: this runs ~2000
    # times per session start, so no pipelines).
    param([System.Text.StringBuilder]$Out, [string]$Name, $Fact)
    foreach ($s in $Fact.Sets.PSObject.Properties) {
        [void]$Out.Append("        [Parameter(ParameterSetName = '").Append($s.Name).Append("'")
        if ($s.Value.Mandatory) { [void]$Out.Append(', Mandatory = $true') }
        if ($null -ne $s.Value.Position) { [void]$Out.Append(', Position = ').Append([int]$s.Value.Position) }
        if ($s.Value.Pipeline) { [void]$Out.Append(', ValueFromPipeline = $true') }
        [void]$Out.Append(")]`n")
    }
    $aliases = @($Fact.Aliases)
    if ($aliases.Count -gt 0) { [void]$Out.Append("        [Alias('").Append(($aliases -join "', '")).Append("')]`n") }
    $type = [string]$Fact.Type
    if (-not $script:MockTypeKnown.ContainsKey($type)) {
        $script:MockTypeKnown[$type] = ($type -eq 'switch') -or ($type -notmatch '[^A-Za-z0-9_.\[\]]' -and $null -ne ($type -as [type]))
    }
    if ($script:MockTypeKnown[$type]) { [void]$Out.Append('        [').Append($type).Append("]`n") }
    [void]$Out.Append('        $').Append($Name)
}

function Add-MockCmdletSource {
    # The generated public function for one cmdlet, appended to $Out.
    param([System.Text.StringBuilder]$Out, [string]$Name, $Signature)
    [void]$Out.Append('function ').Append($Name).Append(" {`n    [CmdletBinding(")
    $sep = ''
    if ($Signature.DefaultSet) { [void]$Out.Append("DefaultParameterSetName = '").Append($Signature.DefaultSet).Append("'"); $sep = ', ' }
    if ($Signature.ShouldProcess) { [void]$Out.Append($sep).Append('SupportsShouldProcess = $true') }
    [void]$Out.Append(")]`n    param(`n")
    $first = $true
    foreach ($p in $Signature.Parameters.PSObject.Properties) {
        if (-not $first) { [void]$Out.Append(",`n") }
        $first = $false
        Add-MockParameterSource -Out $Out -Name $p.Name -Fact $p.Value
    }
    [void]$Out.Append("`n    )`n    process { Invoke-MockHyperVImplementation -Name '").Append($Name).Append("' -Bound `$PSBoundParameters }`n}`n")
}

function Get-MockHyperVCmdletSource {
    # Renames each implementation to MockImpl_<name> (refusing one that declares a parameter the
    # real cmdlet lacks: the mock must not accept what Hyper-V refuses); returns the source of every
    # cmdlet's generated function.
    $out = New-Object System.Text.StringBuilder
    foreach ($c in $script:MockSignatures.PSObject.Properties) {
        $name = $c.Name
        # Test-Path takes the scope qualifier (Get-Item does not): only this module's own functions.
        if (Test-Path -Path "function:script:$name") {
            $existing = Get-Item -Path "function:$name"
            $real = @{}
            foreach ($p in $c.Value.Parameters.PSObject.Properties) { $real[$p.Name] = $true }
            foreach ($k in $existing.Parameters.Keys) {
                if ($script:MockCommonParameters -notcontains $k -and -not $real.ContainsKey($k)) {
                    throw "MockHyperV's $name declares -$k, which Hyper-V 2.0.0.0's $name does not have"
                }
            }
            Set-Item -Path "function:script:MockImpl_$name" -Value $existing.ScriptBlock
            $script:MockImplementations[$name] = Get-Item -Path "function:MockImpl_$name"
        }
        Add-MockCmdletSource -Out $out -Name $name -Signature $c.Value
    }
    $out.ToString()
}
# Dot-sourced at this file's top level (itself dot-sourced into the module), so the generated
# functions land in the module's scope and replace the implementations' names.
. ([scriptblock]::Create((Get-MockHyperVCmdletSource)))
