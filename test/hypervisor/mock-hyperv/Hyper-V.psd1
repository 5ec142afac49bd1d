# The mock presents itself as the module 'Hyper-V' (this manifest's file name is the module name), so
# ps/'s module-qualified calls (Hyper-V\Get-VM) resolve to it in tests exactly as they do on a host.
@{
    RootModule        = 'MockHyperV.psm1'
    ModuleVersion     = '2.0.0.0'
    GUID              = '7b1f3c52-4f0e-4d39-9a43-5e0c8d1a2f60'
    Author            = 'vmmirror tests'
    Description       = 'Mock of the Hyper-V PowerShell module 2.0.0.0 for vmmirror tests (no Hyper-V here).'
    FunctionsToExport = '*'
    CmdletsToExport   = @()
    VariablesToExport = @()
    AliasesToExport   = @()
}
