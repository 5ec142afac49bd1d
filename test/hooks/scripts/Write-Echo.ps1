# Test hook: decodes its argument as a hook must, and writes back (as base64 of UTF-8 JSON, so no
# console code page can alter it) what it received: every field, the argument count, the raw text.
param([Parameter(Mandatory = $true)][string]$InputBase64)
$ErrorActionPreference = 'Stop'
$text = [System.Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($InputBase64))
$call = ConvertFrom-Json -InputObject $text
$echo = @{ Received = $call; Raw = $text; ArgumentCount = $args.Count + 1; WorkingDirectory = (Get-Location).Path }
$json = ConvertTo-Json -InputObject $echo -Depth 5 -Compress
Write-Output ('ECHO ' + [Convert]::ToBase64String([System.Text.Encoding]::UTF8.GetBytes($json)))
