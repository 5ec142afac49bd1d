# Test hook: writes MiB megabytes to stdout (and a quarter of that to stderr) in 1 MiB writes, then
# a last line on each. The runner must keep only the tails.
param([Parameter(Mandatory = $true)][string]$InputBase64)
$ErrorActionPreference = 'Stop'
$mib = 128
$block = New-Object byte[] 1048576
for ($i = 0; $i -lt $block.Length; $i++) { $block[$i] = 120 }
$out = [Console]::OpenStandardOutput()
$err = [Console]::OpenStandardError()
for ($i = 0; $i -lt $mib; $i++) {
    $out.Write($block, 0, $block.Length)
    if ($i % 4 -eq 0) { $err.Write($block, 0, $block.Length) }
}
$end = [System.Text.Encoding]::ASCII.GetBytes("`nflood-end`n")
$out.Write($end, 0, $end.Length)
$err.Write($end, 0, $end.Length)
$out.Flush()
$err.Flush()
