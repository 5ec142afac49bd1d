# The real module's enums (every member name, from test/hypervisor/hyperv-signatures.json) as
# MockHyperV.<Name>, with numbers that are NOT Hyper-V's (100000 and up, in reverse order): the
# numbers differ between Windows builds, so only .ToString() may be relied on, and a script that
# sends [int]$vm.State gets a number no host would, and its test fails.
# Read once per import; Private/Signatures.ps1 uses the same facts.
$script:MockFacts = Get-Content -LiteralPath (Join-Path $PSScriptRoot '../../hyperv-signatures.json') -Raw | ConvertFrom-Json
if (-not ('MockHyperV.VMState' -as [type])) {
    $enumFacts = $script:MockFacts.Enums
    $source = New-Object System.Text.StringBuilder
    [void]$source.Append("namespace MockHyperV {`n")
    foreach ($e in $enumFacts.PSObject.Properties) {
        $members = @($e.Value)
        $numbered = New-Object System.Collections.ArrayList
        for ($i = 0; $i -lt $members.Count; $i++) { [void]$numbered.Add("$($members[$i]) = $(100000 + $members.Count - $i)") }
        [void]$source.Append("    public enum $($e.Name) { $($numbered -join ', ') }`n")
    }
    [void]$source.Append("}`n")
    Add-Type -TypeDefinition $source.ToString()
}
