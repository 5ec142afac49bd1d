<#
.SYNOPSIS
    Pins network adapters' MAC addresses (the current one, or the one given) so the guest's address follows the VM.
.DESCRIPTION
    Adapters are chosen by exact name (-eq), never -Name (wildcards). An adapter already static with that MAC is left alone;
    changing one needs the VM Off (Hyper-V refuses otherwise): VM_WRONG_STATE.
    Part of vmmirror's Hyper-V driver (docs/ps-contract.md): one argument, one JSON object out.
.PARAMETER InputBase64
    Base64 of UTF-8 JSON: { "VmId": guid, "AdapterName"?: string, "Mac"?: string }.
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
    $vm = Get-MirrorVmById -Id $id
    $adapters = @(Hyper-V\Get-VMNetworkAdapter -VM $vm)
    if ($null -ne $in.AdapterName) {
        $want = [string]$in.AdapterName
        $adapters = @($adapters | Where-Object { [string]$_.Name -ceq $want })
        if ($adapters.Count -eq 0) { throw (New-MirrorException -Code 'HYPERVISOR_ERROR' -Message 'No network adapter has this name') }
    }
    $given = $null
    if ($null -ne $in.Mac) {
        $given = ConvertTo-MirrorMac -Mac ([string]$in.Mac)
        if ($given -notmatch '^[0-9A-F]{12}$') { throw (New-MirrorException -Code 'HYPERVISOR_ERROR' -Message 'Mac must be 12 hex digits') }
    }
    $changes = New-Object System.Collections.ArrayList
    foreach ($a in $adapters) {
        $mac = ConvertTo-MirrorMac -Mac ([string]$a.MacAddress)
        if ($null -ne $given) { $mac = $given }
        if ($mac -eq '000000000000' -or $mac -notmatch '^[0-9A-F]{12}$') {
            throw (New-MirrorException -Code 'HYPERVISOR_ERROR' -Message "Adapter '$($a.Name)' has no MAC address yet; start the VM once or give one")
        }
        if ([bool]$a.DynamicMacAddressEnabled -or (ConvertTo-MirrorMac -Mac ([string]$a.MacAddress)) -ne $mac) { [void]$changes.Add(@{ Adapter = $a; Mac = $mac }) }
    }
    if ($changes.Count -gt 0 -and $vm.State.ToString() -ne 'Off') {
        throw (New-MirrorException -Code 'VM_WRONG_STATE' -Message "VM $id is $($vm.State.ToString()); a MAC address can only be changed while it is Off" -Details @{ State = $vm.State.ToString() })
    }
    foreach ($c in $changes) { Hyper-V\Set-VMNetworkAdapter -VMNetworkAdapter $c.Adapter -StaticMacAddress $c.Mac }
    Write-MirrorResult -Result (ConvertTo-MirrorVmInfo -Vm (Get-MirrorVmById -Id $id))
} catch {
    Write-MirrorError -ErrorRecord $_
}
