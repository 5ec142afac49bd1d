# Helpers shared by the replica-side scripts (readiness, register).

function Get-MirrorVmcxPath {
    param([string]$ConfigDir)
    $dir = Join-Path $ConfigDir 'Virtual Machines'
    if (-not (Test-Path -LiteralPath $dir)) { throw (New-MirrorException -Code 'HYPERVISOR_ERROR' -Message "No 'Virtual Machines' folder in the exported configuration") }
    $found = @(Get-ChildItem -LiteralPath $dir -File | Where-Object { $_.Extension -eq '.vmcx' })
    if ($found.Count -ne 1) { throw (New-MirrorException -Code 'HYPERVISOR_ERROR' -Message "Expected one .vmcx in the exported configuration, found $($found.Count)") }
    $found[0].FullName
}

function ConvertTo-MirrorIssue {
    # Compare-VM incompatibility -> stable kind; 33012 is Hyper-V's missing-switch message id.
    param($Incompatibility)
    $kind = 'Other'
    if ([int]$Incompatibility.MessageId -eq 33012) { $kind = 'MissingSwitch' }
    @{ Kind = $kind; Message = [string]$Incompatibility.Message; MessageId = [int]$Incompatibility.MessageId }
}

function Test-MirrorVersionSupported {
    param([string]$Version)
    foreach ($v in @(Hyper-V\Get-VMHostSupportedVersion)) { if (([version]$v.Version).ToString(2) -eq ([version]$Version).ToString(2)) { return $true } }
    $false
}

function Get-MirrorRegisteredVm {
    # The VM registered here with the exported configuration's id (the .vmcx is named <GUID>.vmcx), or $null.
    param([Parameter(Mandatory = $true)][string]$VmcxPath)
    $g = [guid]::Empty
    if (-not [guid]::TryParse([System.IO.Path]::GetFileNameWithoutExtension($VmcxPath), [ref]$g)) { return $null }
    $found = @(Hyper-V\Get-VM | Where-Object { $_.Id -eq $g })
    if ($found.Count -eq 0) { return $null }
    $found[0]
}

function Test-MirrorSamePaths {
    # Same paths in the same order, case ignored (Windows paths).
    param([string[]]$Left, [string[]]$Right)
    if (@($Left).Count -ne @($Right).Count) { return $false }
    for ($i = 0; $i -lt @($Left).Count; $i++) {
        if (-not [string]::Equals(@($Left)[$i], @($Right)[$i], [StringComparison]::OrdinalIgnoreCase)) { return $false }
    }
    $true
}
