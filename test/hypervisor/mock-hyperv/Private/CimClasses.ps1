# The Msvm classes whose embedded instances vmmirror sends (ps/Private/MirrorCim.ps1), as the mock's
# judge (Private/CimXml.ps1) knows them: every property of the class, inherited ones included, with
# its CIM type ('[]' = array). A property not listed here is one the class lacks. WMI compares
# property and class names without case (CIM names are case-insensitive); type names are an XML
# enumeration (DTD 2.0 %CIMType;), so they must match exactly.
#
# Sources (Microsoft's class documentation, found with the docs search on 2026-12-01):
# - Msvm_VirtualSystemSnapshotSettingData:
#   https://learn.microsoft.com/en-us/windows/win32/hyperv_v2/msvm-virtualsystemsnapshotsettingdata
#   (ConsistencyLevel uint8, IgnoreNonSnapshottableDisks boolean, GuestBackupType uint8 "added in
#   Windows 10, version 1703"), and for the properties inherited from CIM_SettingData (Caption,
#   Description, InstanceID, ElementName: string) the full syntax block of
#   https://learn.microsoft.com/en-us/previous-versions/windows/desktop/clushyperv/msvm-virtualsystemsnapshotsettingdata
# - Msvm_VirtualSystemExportSettingData:
#   https://learn.microsoft.com/en-us/windows/win32/hyperv_v2/msvm-virtualsystemexportsettingdata
#   (the Windows 10 / Server 2016 and later list; the older "virtual" v1 page lacks CaptureLiveState,
#   BackupIntent, ExportForLiveMigration, DisableDifferentialOfIgnoredStorage,
#   ExcludedVirtualHardDisks and DifferentialBackupBase).
# ../shared/reference/hyperv-module-2.0.json describes the Hyper-V cmdlets only: no Msvm class is in it.

$script:MockCimClasses = @{
    'Msvm_VirtualSystemSnapshotSettingData' = @{
        Caption = 'string'; Description = 'string'; InstanceID = 'string'; ElementName = 'string'
        ConsistencyLevel = 'uint8'; IgnoreNonSnapshottableDisks = 'boolean'; GuestBackupType = 'uint8'
    }
    'Msvm_VirtualSystemExportSettingData' = @{
        Caption = 'string'; Description = 'string'; InstanceID = 'string'; ElementName = 'string'
        CaptureLiveState = 'uint8'; CopySnapshotConfiguration = 'uint8'; CopyVmRuntimeInformation = 'boolean'
        CopyVmStorage = 'boolean'; CreateVmExportSubdirectory = 'boolean'; SnapshotVirtualSystem = 'string'
        BackupIntent = 'uint8'; ExportForLiveMigration = 'boolean'; DisableDifferentialOfIgnoredStorage = 'boolean'
        ExcludedVirtualHardDisks = 'string[]'; DifferentialBackupBase = 'string'
    }
}

# The CIM types DTD 2.0 allows in a TYPE attribute (DMTF DSP0201 %CIMType;). Anything else is not a
# type at all ('UInt8', 'byte', 'int'), which WMI's parser refuses before it looks at the class.
$script:MockCimTypeNames = @('boolean', 'string', 'char16', 'uint8', 'sint8', 'uint16', 'sint16', 'uint32', 'sint32',
    'uint64', 'sint64', 'datetime', 'real32', 'real64')

function Get-MockCimClassProperty {
    # The class's definition of a property, found without case: @{ Name (the class's spelling); Type; IsArray }, or $null.
    param([Parameter(Mandatory = $true)][string]$ClassName, [Parameter(Mandatory = $true)][string]$Name)
    $class = $script:MockCimClasses[$ClassName]
    foreach ($key in $class.Keys) {
        if ([string]::Equals($key, $Name, [StringComparison]::OrdinalIgnoreCase)) {
            $t = [string]$class[$key]
            return @{ Name = $key; Type = $t.TrimEnd('[', ']'); IsArray = $t.EndsWith('[]') }
        }
    }
    $null
}
