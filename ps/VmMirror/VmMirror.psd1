@{
    RootModule           = 'VmMirror.psm1'
    ModuleVersion        = '0.1.0'
    GUID                 = '6d3f2a41-8c5e-4b7a-9e1d-2f0c7a9b4e53'
    Author               = 'vmmirror'
    Description          = 'Cmdlets for vmmirror, active-active Hyper-V replication without shared storage: status, modules, failover, failback, sync, drain and configuration checks as objects.'
    PowerShellVersion    = '5.1'
    CompatiblePSEditions = @('Desktop', 'Core')
    FormatsToProcess     = @('VmMirror.Format.ps1xml')
    FunctionsToExport    = @(
        'Get-VmMirrorStatus', 'Get-VmMirrorModule', 'Invoke-VmMirrorFailover', 'Invoke-VmMirrorFailback',
        'Sync-VmMirror', 'Suspend-VmMirrorHost', 'Resume-VmMirrorHost', 'Test-VmMirrorConfig'
    )
    CmdletsToExport      = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{ PSData = @{ Tags = @('Hyper-V', 'replication', 'cluster', 'VHDX') } }
}
