# The mock presents itself as the module 'ScheduledTasks' (this manifest's file name is the module
# name), so ps/'s module-qualified calls (ScheduledTasks\Register-ScheduledTask) resolve to it in
# tests exactly as they do on Windows, where the real module is a set of CDXML cmdlets over CIM.
@{
    RootModule        = 'ScheduledTasks.psm1'
    ModuleVersion     = '1.0.0.0'
    GUID              = '3c8f0a5e-2d4b-4f7e-9a61-0b5c7e2d9f14'
    Author            = 'vmmirror tests'
    Description       = 'Mock of the Windows ScheduledTasks module for vmmirror tests (no Task Scheduler here).'
    FunctionsToExport = '*'
    CmdletsToExport   = @()
    VariablesToExport = @()
    AliasesToExport   = @()
}
