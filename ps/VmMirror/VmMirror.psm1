# VmMirror: PowerShell cmdlets over the vmmirror CLI. Every cmdlet runs the CLI with --json, reads
# its one JSON document and returns objects; an error document becomes an ErrorRecord whose
# FullyQualifiedErrorId starts with the stable code (docs/powershell-module.md). Windows PowerShell
# 5.1 and PowerShell 7: no 7-only syntax (test/ps/syntax.test.ts checks every file here).
Set-StrictMode -Version 2.0

# The CLI this module runs unless $env:VMMIRROR_CLI or -CliPath says otherwise: the package's own
# bin/vmmirror.js (this module ships in <package>/ps/VmMirror), run with node. Not vmmirror.cmd:
# cmd.exe parses a batch file's arguments again, so a hostile module name could become a command.
$script:VmMirrorCliPath = [System.IO.Path]::GetFullPath((Join-Path $PSScriptRoot (Join-Path '..' (Join-Path '..' (Join-Path 'bin' 'vmmirror.js')))))

# $true forces the Windows PowerShell 5.1 way of passing arguments (one quoted command line) on
# PowerShell 7 too, so the tests here can prove that quoting keeps every argument whole.
$script:VmMirrorUseCommandLine = $false

foreach ($folder in @('Private', 'Public')) {
    foreach ($file in @(Get-ChildItem -LiteralPath (Join-Path $PSScriptRoot $folder) -Filter '*.ps1' | Sort-Object Name)) {
        . $file.FullName
    }
}

Export-ModuleMember -Function @(
    'Get-VmMirrorStatus', 'Get-VmMirrorModule', 'Invoke-VmMirrorFailover', 'Invoke-VmMirrorFailback',
    'Sync-VmMirror', 'Suspend-VmMirrorHost', 'Resume-VmMirrorHost', 'Test-VmMirrorConfig'
)
