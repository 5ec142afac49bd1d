# Test hook: starts a child process, writes both process ids next to itself, then hangs. Only
# killing the whole tree ends both.
param([Parameter(Mandatory = $true)][string]$InputBase64)
$ErrorActionPreference = 'Stop'
$child = Start-Process -FilePath 'sleep' -ArgumentList '300' -PassThru
$ids = '{0} {1}' -f $PID, $child.Id
Set-Content -LiteralPath (Join-Path $PSScriptRoot 'pids.tmp') -Value $ids -Encoding ASCII
Move-Item -LiteralPath (Join-Path $PSScriptRoot 'pids.tmp') -Destination (Join-Path $PSScriptRoot 'pids.txt') -Force
Start-Sleep -Seconds 300
