<#
.SYNOPSIS
    Test helper: which module a bare command name and its Hyper-V-qualified form resolve to in this session.
.PARAMETER InputBase64
    Base64 of UTF-8 JSON: { "Name": "Get-VM" }.
#>
[CmdletBinding()]
param([Parameter(Mandatory = $true)][ValidatePattern('^[A-Za-z0-9+/=]*$')][string]$InputBase64)
$ErrorActionPreference = 'Stop'
$in = ConvertFrom-Json -InputObject ([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($InputBase64)))
$bare = Get-Command -Name ([string]$in.Name)
$qualified = Get-Command -Name ('Hyper-V\' + [string]$in.Name)
Write-Output (ConvertTo-Json -InputObject @{ Ok = $true; Result = @{ Bare = [string]$bare.Source; Qualified = [string]$qualified.Source } } -Compress)
