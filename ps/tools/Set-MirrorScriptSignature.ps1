<#
.SYNOPSIS
    Signs vmmirror's PowerShell scripts with the organisation's code-signing certificate.
.DESCRIPTION
    Where Group Policy sets the execution policy to AllSigned, -ExecutionPolicy Bypass (what vmmirror
    starts PowerShell with) does not apply and every unsigned script is refused: vmmirror's agent then
    fails at session start with EXECUTION_POLICY. This signs every .ps1/.psm1/.psd1 under the ps/
    folder (the driver scripts, their Private helpers, the VmMirror module and these tools) with
    Set-AuthenticodeSignature, then verifies each signature. Run it on the machine that holds the
    certificate (a build or admin host without the AllSigned policy, or once this file itself is
    signed), after every vmmirror upgrade: an edited or replaced file loses its signature.
    Windows PowerShell 5.1 and PowerShell 7 on Windows. See docs/hyperv-driver.md, "Execution policy".
.PARAMETER Thumbprint
    Thumbprint of a code-signing certificate with its private key in Cert:\CurrentUser\My or Cert:\LocalMachine\My.
.PARAMETER Path
    The ps/ folder to sign (default: the folder above this script).
.PARAMETER TimestampServer
    RFC 3161 timestamp server URL (recommended: signatures then stay valid after the certificate expires).
.PARAMETER ListOnly
    Only list the files that would be signed, with their current signature status; sign nothing.
.OUTPUTS
    One object per file: Path, Status (Valid, NotSigned, HashMismatch, ...), Signer.
.EXAMPLE
    .\Set-MirrorScriptSignature.ps1 -Thumbprint 0123456789ABCDEF0123456789ABCDEF01234567 -TimestampServer http://timestamp.example.org
#>
[CmdletBinding(SupportsShouldProcess = $true)]
param(
    [string]$Thumbprint,
    [string]$Path = (Split-Path -Parent $PSScriptRoot),
    [string]$TimestampServer,
    [switch]$ListOnly
)
$ErrorActionPreference = 'Stop'

$files = @(Get-ChildItem -LiteralPath $Path -Recurse -File | Where-Object { @('.ps1', '.psm1', '.psd1') -contains $_.Extension } | Sort-Object FullName)
if ($files.Count -eq 0) { throw "No PowerShell files under $Path" }
$canCheck = $null -ne (Get-Command -Name Get-AuthenticodeSignature -ErrorAction SilentlyContinue)

function Get-MirrorFileSignature {
    # Path, Status and Signer of one file (Status 'Unknown' where Authenticode is not available).
    param([Parameter(Mandatory = $true)][string]$File)
    if (-not $canCheck) { return [pscustomobject]@{ Path = $File; Status = 'Unknown'; Signer = $null } }
    $s = Get-AuthenticodeSignature -LiteralPath $File
    $signer = $null
    if ($null -ne $s.SignerCertificate) { $signer = $s.SignerCertificate.Subject }
    [pscustomobject]@{ Path = $File; Status = $s.Status.ToString(); Signer = $signer }
}

if ($ListOnly) {
    foreach ($f in $files) { Get-MirrorFileSignature -File $f.FullName }
    return
}
if (-not $canCheck) { throw 'Set-AuthenticodeSignature is only available on Windows' }
if (-not $Thumbprint) { throw 'Give -Thumbprint of the code-signing certificate (Get-ChildItem Cert:\CurrentUser\My -CodeSigningCert)' }
$clean = ($Thumbprint -replace '\s', '').ToUpperInvariant()
$cert = $null
foreach ($store in @('Cert:\CurrentUser\My', 'Cert:\LocalMachine\My')) {
    $found = @(Get-ChildItem -Path $store -CodeSigningCert | Where-Object { $_.Thumbprint -eq $clean -and $_.HasPrivateKey })
    if ($found.Count -gt 0) { $cert = $found[0]; break }
}
if ($null -eq $cert) { throw "No code-signing certificate with a private key and thumbprint $clean in CurrentUser\My or LocalMachine\My" }

$failed = 0
foreach ($f in $files) {
    if ($PSCmdlet.ShouldProcess($f.FullName, 'Set-AuthenticodeSignature')) {
        $sign = @{ LiteralPath = $f.FullName; Certificate = $cert; HashAlgorithm = 'SHA256' }
        if ($TimestampServer) { $sign.TimestampServer = $TimestampServer }
        [void](Set-AuthenticodeSignature @sign)
    }
    $result = Get-MirrorFileSignature -File $f.FullName
    if ($result.Status -ne 'Valid') { $failed++ }
    $result
}
if ($failed -gt 0) { Write-Error "$failed file(s) are not validly signed (see Status); is the certificate trusted (Trusted Publishers, a trusted root)?" }
