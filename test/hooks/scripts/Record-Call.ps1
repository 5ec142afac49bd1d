# Test hook: appends "<Action> <Module> <Reason> <Epoch>" to calls.log next to itself, so a test
# can read the order in which the agent's hooks ran. Windows PowerShell 5.1 and PowerShell 7.
param([Parameter(Mandatory = $true)][string]$InputBase64)
$ErrorActionPreference = 'Stop'
$text = [System.Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($InputBase64))
$call = ConvertFrom-Json -InputObject $text
$line = '{0} {1} {2} {3}' -f $call.Action, $call.Module, $call.Reason, $call.Epoch
Add-Content -LiteralPath (Join-Path $PSScriptRoot 'calls.log') -Value $line -Encoding UTF8
Write-Output "recorded $($call.Action)"
