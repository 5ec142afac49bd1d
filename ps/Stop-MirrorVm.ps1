<#
.SYNOPSIS
    Stops a running VM (Shutdown, TurnOff or Save) and waits for Off (or Saved).
.DESCRIPTION
    Shutdown goes through the guest (Stop-VM -Force: no prompt in a non-interactive host). A VM that is Off is VM_WRONG_STATE
    and Stop-VM is not called.
    Part of vmmirror's Hyper-V driver (docs/ps-contract.md): one argument, one JSON object out.
.PARAMETER InputBase64
    Base64 of UTF-8 JSON: { "VmId": guid, "Mode": "Shutdown"|"TurnOff"|"Save", "TimeoutMs": number }.
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
    $id = ConvertTo-MirrorGuid -Value $in.VmId
    $deadline = Get-MirrorDeadline -TimeoutMs $in.TimeoutMs
    $mode = [string]$in.Mode
    if (@('Shutdown', 'TurnOff', 'Save') -notcontains $mode) { throw (New-MirrorException -Code 'HYPERVISOR_ERROR' -Message "Unknown stop mode '$mode'") }
    $vm = Get-MirrorVmById -Id $id
    $state = $vm.State.ToString()
    if (@('Running', 'Paused') -notcontains $state) {
        throw (New-MirrorException -Code 'VM_WRONG_STATE' -Message "VM $id is $state; only a Running or Paused VM can be stopped" -Details @{ State = $state })
    }
    $target = 'Off'
    if ($mode -eq 'Save') {
        $job = Hyper-V\Stop-VM -VM $vm -Save -Confirm:$false -AsJob
        $target = 'Saved'
    } elseif ($mode -eq 'TurnOff') {
        $job = Hyper-V\Stop-VM -VM $vm -TurnOff -Force -Confirm:$false -AsJob
    } else {
        $job = Hyper-V\Stop-VM -VM $vm -Force -Confirm:$false -AsJob
    }
    $vm = Wait-MirrorVmState -Id $id -States @($target) -Deadline $deadline -Job $job
    Write-MirrorResult -Result (ConvertTo-MirrorVmInfo -Vm $vm)
} catch {
    Write-MirrorError -ErrorRecord $_
}
