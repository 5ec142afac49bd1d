<#
.SYNOPSIS
    Runner test: sleeps SleepMs, then replies with its start/end times and the decoded input.
#>
[CmdletBinding()]
param([Parameter(Mandatory = $true)][ValidatePattern('^[A-Za-z0-9+/=]*$')][string]$InputBase64)
$ErrorActionPreference = 'Stop'
try {
    . (Join-Path $PSScriptRoot '../../../../ps/Private/MirrorCommon.ps1')
    $in = ConvertFrom-MirrorInput -InputBase64 $InputBase64
    $start = [DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds()
    if ($in.SleepMs) { Start-Sleep -Milliseconds ([int]$in.SleepMs) }
    $end = [DateTimeOffset]::UtcNow.ToUnixTimeMilliseconds()
    Write-MirrorResult -Result @{ Start = $start; End = $end; Echo = $in.Echo; Pid = $PID }
} catch {
    Write-MirrorError -ErrorRecord $_
}
