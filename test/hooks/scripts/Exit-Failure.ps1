# Test hook: says why on stderr and exits 3, as an operator's script refusing a move would.
param([Parameter(Mandatory = $true)][string]$InputBase64)
Write-Output 'checking the load balancer pool'
[Console]::Error.WriteLine('cannot drain: pool web is busy')
exit 3
