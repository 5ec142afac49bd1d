<#
.SYNOPSIS
    Exports a VM's configuration only (no disks, no snapshots, no runtime state) into a folder.
.DESCRIPTION
    Msvm_VirtualSystemManagementService.ExportSystemDefinition with CopyVmStorage FALSE (Export-VM always copies disks).
    Refused (VM_WRONG_STATE, Details.OpenViews) while the VM has a recovery snapshot: export only between views.
    The folder receives "Virtual Machines\<GUID>.vmcx".
    Part of vmmirror's Hyper-V driver (docs/ps-contract.md): one argument, one JSON object out.
.PARAMETER InputBase64
    Base64 of UTF-8 JSON: { "VmId": guid, "DestDir": string, "TimeoutMs": number }.
.OUTPUTS
    One JSON line: {"Ok":true,"Result":{"ConfigDir","Files":[relative paths]}} or {"Ok":false,"Error":{"Code":...,"Message":...}}.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][ValidatePattern('^[A-Za-z0-9+/=]*$')][string]$InputBase64
)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
try {
    . (Join-Path $PSScriptRoot 'Private/MirrorCommon.ps1')
    . (Join-Path $PSScriptRoot 'Private/MirrorCim.ps1')
    $in = ConvertFrom-MirrorInput -InputBase64 $InputBase64
    $id = ConvertTo-MirrorGuid -Value $in.VmId
    $deadline = Get-MirrorDeadline -TimeoutMs $in.TimeoutMs
    $dest = [string]$in.DestDir
    if (-not $dest) { throw (New-MirrorException -Code 'HYPERVISOR_ERROR' -Message 'DestDir is empty') }
    [void](Get-MirrorVmById -Id $id)
    # Never export while a recovery snapshot (a frozen view, ours or a backup product's) exists:
    # ExportSystemDefinition then may lock the VHDX chain until VMMS restarts (Bareos plugin authors).
    $filter = "VirtualSystemIdentifier='" + $id.ToString() + "'"
    $views = @(Get-CimInstance -Namespace $script:MirrorNamespace -ClassName Msvm_VirtualSystemSettingData -Filter $filter |
        Where-Object { [string]$_.VirtualSystemType -eq 'Microsoft:Hyper-V:Snapshot:Recovery' })
    if ($views.Count -gt 0) {
        throw (New-MirrorException -Code 'VM_WRONG_STATE' -Message "VM $id has a recovery snapshot (a frozen view) open; its configuration is exported only after it is released" -Details @{ OpenViews = @($views | ForEach-Object { [string]$_.InstanceID }) })
    }
    [void](New-Item -ItemType Directory -Force -Path $dest)
    $cimVm = Get-MirrorCimVm -Id $id
    $svc = Get-MirrorCimService -ClassName Msvm_VirtualSystemManagementService
    $r = Invoke-CimMethod -InputObject $svc -MethodName ExportSystemDefinition -Arguments @{
        ComputerSystem = $cimVm; ExportDirectory = $dest; ExportSettingData = (New-MirrorExportSettings) }
    [void](Wait-MirrorCimJob -Result $r -Deadline $deadline -What 'ExportSystemDefinition')
    $root = (Get-Item -LiteralPath $dest).FullName
    $files = @(Get-ChildItem -LiteralPath $root -Recurse -File | ForEach-Object { $_.FullName.Substring($root.Length).TrimStart('\', '/') })
    Write-MirrorResult -Result @{ ConfigDir = $root; Files = @($files) }
} catch {
    Write-MirrorError -ErrorRecord $_
}
