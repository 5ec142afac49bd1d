<#
.SYNOPSIS
    Starts an Off or Saved VM and waits until it runs (and, if asked, its guest heartbeat is Ok*).
.DESCRIPTION
    Start-VM returns at Running, not at guest boot, so the heartbeat is polled. A VM that is not Off/Saved is VM_WRONG_STATE
    (Start-VM is not called).
    Part of vmmirror's Hyper-V driver (docs/ps-contract.md): one argument, one JSON object out.
.PARAMETER InputBase64
    Base64 of UTF-8 JSON: { "VmId": guid, "TimeoutMs": number, "WaitHeartbeat": bool }.
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
    $vm = Get-MirrorVmById -Id $id
    $state = $vm.State.ToString()
    if (@('Off', 'Saved') -notcontains $state) {
        throw (New-MirrorException -Code 'VM_WRONG_STATE' -Message "VM $id is $state; only an Off or Saved VM can be started" -Details @{ State = $state })
    }
    $job = Hyper-V\Start-VM -VM $vm -AsJob
    $vm = Wait-MirrorVmState -Id $id -States @('Running') -Deadline $deadline -Heartbeat:($in.WaitHeartbeat -eq $true) -Job $job
    Write-MirrorResult -Result (ConvertTo-MirrorVmInfo -Vm $vm)
} catch {
    Write-MirrorError -ErrorRecord $_
}
