# Test hook: makes Get-ExecutionPolicy -List report a Group Policy, as a domain would set it.
# $env:VMMIRROR_TEST_GPO is 'MachinePolicy=AllSigned', 'UserPolicy=Restricted', ... (';'-separated);
# scopes not named are Undefined, and Process is Bypass, as the runner's -ExecutionPolicy sets it.
# Imported by the runner's prelude (importModules) before the policy check runs.
function Get-ExecutionPolicy {
    [CmdletBinding()]
    param([switch]$List, [string]$Scope)
    $set = @{ Process = 'Bypass' }
    foreach ($pair in @(([string]$env:VMMIRROR_TEST_GPO) -split ';')) {
        if ($pair -match '^(\w+)=(\w+)$') { $set[$Matches[1]] = $Matches[2] }
    }
    foreach ($s in @('MachinePolicy', 'UserPolicy', 'Process', 'CurrentUser', 'LocalMachine')) {
        $p = 'Undefined'
        if ($set.ContainsKey($s)) { $p = $set[$s] }
        [pscustomobject]@{ Scope = [Microsoft.PowerShell.ExecutionPolicyScope]$s; ExecutionPolicy = [Microsoft.PowerShell.ExecutionPolicy]$p }
    }
}
Export-ModuleMember -Function Get-ExecutionPolicy
