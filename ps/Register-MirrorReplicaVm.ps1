<#
.SYNOPSIS
    Registers the replica VM in place (same VM id) from an exported configuration, disks pointed at the replicas, kept Off.
.DESCRIPTION
    Compare-VM -Register first; the report VM's drives are pointed at DiskPaths (same order as exported), the report is
    re-checked, and any remaining incompatibility is VM_INCOMPATIBLE with the list in Details.Issues (Import-VM is not called).
    The report's VM id must be the file name's GUID (<VmId>.vmcx), else VM_CONFIG_INVALID before anything is changed.
    A VM with the exported id that is already registered is adopted when its disks are DiskPaths (same order, case
    ignored) and it is Off; with other disks it is VM_ALREADY_REGISTERED (Details.DiskPaths), nothing changed.
    Part of vmmirror's Hyper-V driver (docs/ps-contract.md): one argument, one JSON object out.
.PARAMETER InputBase64
    Base64 of UTF-8 JSON: { "ConfigDir": string, "DiskPaths": [string], "TimeoutMs": number }.
.OUTPUTS
    One JSON line: {"Ok":true,"Result":VmInfo} or {"Ok":false,"Error":{"Code":...,"Message":...}}.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][ValidatePattern('^[A-Za-z0-9+/=]*$')][string]$InputBase64
)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
try {
    . (Join-Path $PSScriptRoot 'Private/MirrorCommon.ps1')
    $in = ConvertFrom-MirrorInput -InputBase64 $InputBase64
    . (Join-Path $PSScriptRoot 'Private/MirrorReplica.ps1')
    $deadline = Get-MirrorDeadline -TimeoutMs $in.TimeoutMs
    $vmcx = Get-MirrorVmcxPath -ConfigDir ([string]$in.ConfigDir)
    $diskPaths = @($in.DiskPaths | ForEach-Object { [string]$_ })
    # An in-place import keeps the id and fails when a VM with it is registered: look first.
    $existing = Get-MirrorRegisteredVm -VmcxPath $vmcx
    if ($null -ne $existing) {
        $theirs = @(Get-MirrorVmDrives -Vm $existing | ForEach-Object { [string]$_.Path })
        if (-not (Test-MirrorSamePaths -Left $theirs -Right $diskPaths)) {
            throw (New-MirrorException -Code 'VM_ALREADY_REGISTERED' -Message "VM $($existing.Id) is already registered on this host with other disks; remove it, or give its disks as the replica paths" -Details @{ VmId = $existing.Id.ToString(); Name = [string]$existing.Name; DiskPaths = @($theirs) })
        }
        $state = $existing.State.ToString()
        if ($state -ne 'Off') {
            throw (New-MirrorException -Code 'VM_WRONG_STATE' -Message "VM $($existing.Id) is registered with the replica's disks but is $state; a replica must be Off" -Details @{ State = $state })
        }
        # Already the module's copy (a retry after a crash, a second registration): adopt it as it is.
        Write-MirrorResult -Result (ConvertTo-MirrorVmInfo -Vm $existing)
        return
    }
    $report = Hyper-V\Compare-VM -Path $vmcx -Register
    # The lookup above goes by the file's name (<GUID>.vmcx), Import-VM by its contents: a file whose
    # contents name another VM would import (or, registered here, replace) that VM in the module's place.
    $named = [guid]::Empty
    $namedOk = [guid]::TryParse([System.IO.Path]::GetFileNameWithoutExtension($vmcx), [ref]$named)
    $inside = [string]$report.VM.Id
    if ((-not $namedOk) -or (-not [string]::Equals($named.ToString(), $inside, [StringComparison]::OrdinalIgnoreCase))) {
        throw (New-MirrorException -Code 'VM_CONFIG_INVALID' -Message "The exported configuration $([System.IO.Path]::GetFileName($vmcx)) holds VM $inside, not the VM its name says; nothing was imported" -Details @{ FileVmId = [System.IO.Path]::GetFileNameWithoutExtension($vmcx); ContentVmId = $inside })
    }
    $drives = @(Get-MirrorVmDrives -Vm $report.VM)
    if ($drives.Count -ne $diskPaths.Count) {
        throw (New-MirrorException -Code 'VM_INCOMPATIBLE' -Message "The exported VM has $($drives.Count) disks, $($diskPaths.Count) replica paths given" -Details @{ Issues = @(@{ Kind = 'Other'; Message = 'disk count differs' }) })
    }
    for ($i = 0; $i -lt $drives.Count; $i++) { Hyper-V\Set-VMHardDiskDrive -VMHardDiskDrive $drives[$i] -Path $diskPaths[$i] }
    $report = Hyper-V\Compare-VM -CompatibilityReport $report
    $issues = New-Object System.Collections.ArrayList
    foreach ($inc in @($report.Incompatibilities)) { [void]$issues.Add((ConvertTo-MirrorIssue -Incompatibility $inc)) }
    if ($issues.Count -gt 0) {
        $kinds = @($issues | ForEach-Object { $_.Kind }) -join ', '
        throw (New-MirrorException -Code 'VM_INCOMPATIBLE' -Message "The replica VM cannot be registered here: $kinds" -Details @{ Issues = @($issues.ToArray()) })
    }
    $imported = Hyper-V\Import-VM -CompatibilityReport $report
    $vm = Wait-MirrorVmState -Id $imported.Id -States @('Off') -Deadline $deadline
    Write-MirrorResult -Result (ConvertTo-MirrorVmInfo -Vm $vm)
} catch {
    Write-MirrorError -ErrorRecord $_
}
