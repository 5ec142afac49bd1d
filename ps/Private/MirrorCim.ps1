# Hyper-V WMI v2 helpers (CIM cmdlets exist in 5.1 and 7). Embedded-instance arguments are CIM-XML
# (DTD 2.0, the text WMI's GetText(1) and the CimSerializer produce) built by ConvertTo-MirrorCimXml
# from typed values, every value XML-escaped. WQL filters only ever receive a validated GUID, or an
# instance ID escaped by ConvertTo-MirrorWqlString.

function ConvertTo-MirrorCimXml {
    # An embedded instance of $ClassName: each property @{ Name; Type (the class's CIM type, exactly: uint8, boolean, string); Value }.
    param([Parameter(Mandatory = $true)][string]$ClassName, [Parameter(Mandatory = $true)][object[]]$Properties)
    $sb = New-Object System.Text.StringBuilder
    [void]$sb.Append('<INSTANCE CLASSNAME="').Append([System.Security.SecurityElement]::Escape($ClassName)).Append('">')
    foreach ($p in $Properties) {
        $text = [string]$p.Value
        if ($p.Type -eq 'boolean') { $text = ([string][bool]$p.Value).ToUpperInvariant() }
        [void]$sb.Append('<PROPERTY NAME="').Append([System.Security.SecurityElement]::Escape([string]$p.Name)).Append('" TYPE="').Append([string]$p.Type).Append('"><VALUE>')
        [void]$sb.Append([System.Security.SecurityElement]::Escape($text)).Append('</VALUE></PROPERTY>')
    }
    [void]$sb.Append('</INSTANCE>')
    $sb.ToString()
}

function New-MirrorSnapshotSettings {
    # Msvm_VirtualSystemSnapshotSettingData: 1 = application consistent (with GuestBackupType 2 =
    # copy: the guest's VSS writers do not truncate logs or mark a backup), 2 = crash consistent.
    param([Parameter(Mandatory = $true)][int]$ConsistencyLevel)
    $props = @(@{ Name = 'ConsistencyLevel'; Type = 'uint8'; Value = $ConsistencyLevel }, @{ Name = 'IgnoreNonSnapshottableDisks'; Type = 'boolean'; Value = $true })
    if ($ConsistencyLevel -eq 1) { $props += @{ Name = 'GuestBackupType'; Type = 'uint8'; Value = 2 } }
    ConvertTo-MirrorCimXml -ClassName 'Msvm_VirtualSystemSnapshotSettingData' -Properties $props
}

function New-MirrorExportSettings {
    # Configuration only: no disks, no snapshots (CopySnapshotConfiguration 1 = none), no runtime state, no subfolder.
    ConvertTo-MirrorCimXml -ClassName 'Msvm_VirtualSystemExportSettingData' -Properties @(
        @{ Name = 'CopySnapshotConfiguration'; Type = 'uint8'; Value = 1 }, @{ Name = 'CopyVmRuntimeInformation'; Type = 'boolean'; Value = $false },
        @{ Name = 'CopyVmStorage'; Type = 'boolean'; Value = $false }, @{ Name = 'CreateVmExportSubdirectory'; Type = 'boolean'; Value = $false })
}

function ConvertTo-MirrorWqlString {
    # A WQL string literal: backslash and quote escaped with a backslash (instance IDs hold '\').
    param([Parameter(Mandatory = $true)][AllowEmptyString()][string]$Value)
    "'" + ($Value.Replace('\', '\\').Replace("'", "\'")) + "'"
}

function Get-MirrorSasdPath {
    # HostResource[0] of the Msvm_StorageAllocationSettingData with this InstanceID; $null when the
    # lookup finds none or fails (the caller then reports the id unmatched rather than losing it).
    param([Parameter(Mandatory = $true)][string]$InstanceId)
    try {
        $filter = 'InstanceID=' + (ConvertTo-MirrorWqlString -Value $InstanceId)
        $found = @(Get-CimInstance -Namespace $script:MirrorNamespace -ClassName Msvm_StorageAllocationSettingData -Filter $filter)
    } catch {
        return $null
    }
    if ($found.Count -lt 1) { return $null }
    [string]@($found[0].HostResource)[0]
}

function Get-MirrorCimService {
    # A singleton Msvm service instance.
    param([Parameter(Mandatory = $true)][string]$ClassName)
    $svc = @(Get-CimInstance -Namespace $script:MirrorNamespace -ClassName $ClassName)
    if ($svc.Count -lt 1) { throw (New-MirrorException -Code 'HYPERVISOR_ERROR' -Message "$ClassName not found (is Hyper-V installed?)") }
    $svc[0]
}

function Get-MirrorCimVm {
    # The Msvm_ComputerSystem of a VM, by GUID only.
    param([Parameter(Mandatory = $true)][guid]$Id)
    $filter = "Name='" + $Id.ToString() + "'"
    $vm = @(Get-CimInstance -Namespace $script:MirrorNamespace -ClassName Msvm_ComputerSystem -Filter $filter)
    if ($vm.Count -lt 1) { throw (New-MirrorException -Code 'VM_NOT_FOUND' -Message "No VM with id $Id") }
    $vm[0]
}

function Get-MirrorSnapshotById {
    # A VM's snapshot (Msvm_VirtualSystemSettingData) by InstanceID, compared in PowerShell, never in WQL; $null if gone.
    param([Parameter(Mandatory = $true)][guid]$VmId, [Parameter(Mandatory = $true)][string]$InstanceId)
    $filter = "VirtualSystemIdentifier='" + $VmId.ToString() + "'"
    foreach ($s in @(Get-CimInstance -Namespace $script:MirrorNamespace -ClassName Msvm_VirtualSystemSettingData -Filter $filter)) {
        if ([string]$s.InstanceID -eq $InstanceId) { return $s }
    }
    $null
}

function Get-MirrorReferencePoints {
    # The VM's RCT reference points (type 2); Hyper-V Replica's log-based ones (type 1) are left alone.
    param([Parameter(Mandatory = $true)][guid]$VmId)
    $filter = "VirtualSystemIdentifier='" + $VmId.ToString() + "'"
    @(Get-CimInstance -Namespace $script:MirrorNamespace -ClassName Msvm_VirtualSystemReferencePoint -Filter $filter |
        Where-Object { [int]$_.ReferencePointType -eq 2 })
}

function Wait-MirrorNoDifferencingDisk {
    # After a merge Hyper-V finishes in the background: wait until no drive points at an .avhdx.
    param([Parameter(Mandatory = $true)][guid]$VmId, [Parameter(Mandatory = $true)][datetime]$Deadline)
    while ($true) {
        $vm = Get-MirrorVmById -Id $VmId
        $pending = @(Hyper-V\Get-VMHardDiskDrive -VM $vm | Where-Object { ([string]$_.Path) -like '*.avhdx' })
        if ($pending.Count -eq 0) { return }
        if ([DateTime]::UtcNow -ge $Deadline) { throw (New-MirrorException -Code 'VM_TIMEOUT' -Message "Merge of VM $VmId did not finish in time") }
        Start-Sleep -Milliseconds 100
    }
}
