<#
.SYNOPSIS
    Driver tests: takes a recovery snapshot of a VM as a backup product would (not named by vmmirror), through the mock's CIM.
#>
[CmdletBinding()]
param([Parameter(Mandatory = $true)][ValidatePattern('^[A-Za-z0-9+/=]*$')][string]$InputBase64)
$ErrorActionPreference = 'Stop'
try {
    . (Join-Path $PSScriptRoot '../../../../ps/Private/MirrorCommon.ps1')
    $in = ConvertFrom-MirrorInput -InputBase64 $InputBase64
    $ns = 'root\virtualization\v2'
    $svc = Get-CimInstance -Namespace $ns -ClassName Msvm_VirtualSystemSnapshotService
    $cs = Get-CimInstance -Namespace $ns -ClassName Msvm_ComputerSystem -Filter ("Name='" + ([guid]$in.VmId).ToString() + "'")
    $settings = '<INSTANCE CLASSNAME="Msvm_VirtualSystemSnapshotSettingData"><PROPERTY NAME="ConsistencyLevel" TYPE="uint8"><VALUE>2</VALUE></PROPERTY></INSTANCE>'
    $r = Invoke-CimMethod -InputObject $svc -MethodName CreateSnapshot -Arguments @{ AffectedSystem = $cs; SnapshotSettings = $settings; SnapshotType = [uint16]32768 }
    $snap = Get-CimAssociatedInstance -InputObject $r.Job -ResultClassName Msvm_VirtualSystemSettingData
    Write-MirrorResult -Result @{ InstanceID = [string]$snap.InstanceID; ElementName = [string]$snap.ElementName }
} catch {
    Write-MirrorError -ErrorRecord $_
}
