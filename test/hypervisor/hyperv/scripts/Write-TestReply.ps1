<#
.SYNOPSIS
    Runner test: writes whatever reply shape the input asks for (protocol violations included).
#>
[CmdletBinding()]
param([Parameter(Mandatory = $true)][ValidatePattern('^[A-Za-z0-9+/=]*$')][string]$InputBase64)
$ErrorActionPreference = 'Stop'
try {
    . (Join-Path $PSScriptRoot '../../../../ps/Private/MirrorCommon.ps1')
    $in = ConvertFrom-MirrorInput -InputBase64 $InputBase64
    switch ([string]$in.Kind) {
        'none' { Write-Output 'just some text' }
        'two' { Write-MirrorResult -Result @{ A = 1 }; Write-MirrorResult -Result @{ A = 2 } }
        'stray' { Write-Output 'WARNING: banner text'; Write-Host 'host text'; Write-MirrorResult -Result @{ A = 3 } }
        'badjson' { Write-Output '{"Ok":true,"Result":' }
        'wrongshape' { Write-MirrorResult -Result @{ A = 'not a number' } }
        'stderr' { [Console]::Error.WriteLine('noise on stderr'); Write-MirrorResult -Result @{ A = 4 } }
        'code' { throw (New-MirrorException -Code ([string]$in.Code) -Message 'scripted failure' -Details @{ X = 1 }) }
        'platform' { Get-Item -LiteralPath '/definitely/not/here' }
        'exit' { [Environment]::Exit(3) }
        default { throw "unknown kind" }
    }
} catch {
    Write-MirrorError -ErrorRecord $_
}
