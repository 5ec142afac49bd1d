# Frozen views (recovery snapshots) that vmmirror makes: how they are named, found and released.
# Dot-sourced after MirrorCommon.ps1 and MirrorCim.ps1. Windows PowerShell 5.1 and PowerShell 7.

# Every view vmmirror makes is renamed with this prefix right after CreateSnapshot: the only mark
# that tells our recovery snapshots from a backup product's (which must never be touched).
$script:MirrorViewPrefix = 'vmmirror-view '

function Get-MirrorViewName {
    param([Parameter(Mandatory = $true)][string]$TakenAt)
    $script:MirrorViewPrefix + $TakenAt
}

function Get-MirrorErrorCode {
    # The vmmirror code an error carries, or HYPERVISOR_ERROR.
    param([Parameter(Mandatory = $true)]$ErrorRecord)
    $ex = $ErrorRecord.Exception
    while ($ex -is [System.Management.Automation.MethodInvocationException] -and $null -ne $ex.InnerException) { $ex = $ex.InnerException }
    if ($ex.Data.Contains('MirrorCode')) { return [string]$ex.Data['MirrorCode'] }
    'HYPERVISOR_ERROR'
}

function Add-MirrorErrorDetail {
    # The same error (code, message) with more details merged in, to rethrow.
    param([Parameter(Mandatory = $true)]$ErrorRecord, [Parameter(Mandatory = $true)][hashtable]$Details)
    $ex = $ErrorRecord.Exception
    while ($ex -is [System.Management.Automation.MethodInvocationException] -and $null -ne $ex.InnerException) { $ex = $ex.InnerException }
    $merged = @{}
    if ($ex.Data.Contains('MirrorDetails') -and $ex.Data['MirrorDetails'] -is [hashtable]) {
        foreach ($k in $ex.Data['MirrorDetails'].Keys) { $merged[$k] = $ex.Data['MirrorDetails'][$k] }
    }
    foreach ($k in $Details.Keys) { if ($null -ne $Details[$k]) { $merged[$k] = $Details[$k] } }
    New-MirrorException -Code (Get-MirrorErrorCode -ErrorRecord $ErrorRecord) -Message ([string]$ex.Message) -Details $merged
}

function Rename-MirrorSnapshot {
    # Names a recovery snapshot by its InstanceID ("Microsoft:<GUID>"; Get-VMSnapshot's Id is that GUID).
    param([Parameter(Mandatory = $true)]$Vm, [Parameter(Mandatory = $true)][string]$InstanceId, [Parameter(Mandatory = $true)][string]$NewName)
    $guid = ConvertTo-MirrorGuid -Value ($InstanceId -replace '^Microsoft:', '') -What 'Snapshot InstanceID'
    $found = @(Hyper-V\Get-VMSnapshot -VM $Vm -SnapshotType Recovery | Where-Object { $_.Id -eq $guid })
    if ($found.Count -ne 1) { throw (New-MirrorException -Code 'HYPERVISOR_ERROR' -Message "Recovery snapshot $InstanceId not found by Get-VMSnapshot") }
    Hyper-V\Rename-VMSnapshot -VMSnapshot $found[0] -NewName $NewName
}

function Get-MirrorLeftoverViews {
    # vmmirror's recovery snapshots of a VM (by name), except those in $Keep (views still in use).
    param([Parameter(Mandatory = $true)][guid]$VmId, [string[]]$Keep = @())
    $filter = "VirtualSystemIdentifier='" + $VmId.ToString() + "'"
    @(Get-CimInstance -Namespace $script:MirrorNamespace -ClassName Msvm_VirtualSystemSettingData -Filter $filter | Where-Object {
            [string]$_.VirtualSystemType -eq 'Microsoft:Hyper-V:Snapshot:Recovery' -and
            ([string]$_.ElementName).StartsWith($script:MirrorViewPrefix, [StringComparison]::Ordinal) -and
            $Keep -notcontains [string]$_.InstanceID })
}

function Remove-MirrorSnapshotMerged {
    # DestroySnapshot (merge, no reference point) and wait until no drive points at an .avhdx.
    param([Parameter(Mandatory = $true)]$Snapshot, [Parameter(Mandatory = $true)][guid]$VmId, [Parameter(Mandatory = $true)][datetime]$Deadline)
    $svc = Get-MirrorCimService -ClassName Msvm_VirtualSystemSnapshotService
    $r = Invoke-CimMethod -InputObject $svc -MethodName DestroySnapshot -Arguments @{ AffectedSnapshot = $Snapshot }
    [void](Wait-MirrorCimJob -Result $r -Deadline $Deadline -What 'DestroySnapshot')
    Wait-MirrorNoDifferencingDisk -VmId $VmId -Deadline $Deadline
}
