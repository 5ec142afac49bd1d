<#
.SYNOPSIS
    Injection test: says where $HOME points inside the session (the marker an injected name would delete).
#>
[CmdletBinding()]
param([Parameter(Mandatory = $true)][ValidatePattern('^[A-Za-z0-9+/=]*$')][string]$InputBase64)
$ErrorActionPreference = 'Stop'
Write-Output (ConvertTo-Json -InputObject @{ Ok = $true; Result = @{ Home = [string]$HOME; EnvHome = [string]$env:HOME } } -Compress)
