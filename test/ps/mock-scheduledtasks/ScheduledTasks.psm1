# Mock of the Windows ScheduledTasks module for vmmirror's tests (no Task Scheduler here).
# Each function has the REAL cmdlet's parameter names and parameter sets, hand-copied from
# Microsoft's reference (MicrosoftDocs/windows-powershell-docs, docset/winserver2019-ps/scheduledtasks/
# New-ScheduledTaskAction.md, New-ScheduledTaskTrigger.md, New-ScheduledTaskPrincipal.md,
# New-ScheduledTaskSettingsSet.md, Register-ScheduledTask.md, Get-ScheduledTask.md,
# Set-ScheduledTask.md, Unregister-ScheduledTask.md, Stop-ScheduledTask.md), so PowerShell's own
# binder refuses a parameter the real cmdlet lacks, a missing mandatory one, or a mix no set takes.
# Objects have the real CIM classes' property names (MSFT_TaskExecAction, MSFT_TaskBootTrigger,
# MSFT_TaskTimeTrigger, MSFT_TaskRepetitionPattern, MSFT_TaskPrincipal2, MSFT_TaskSettings3,
# MSFT_ScheduledTask) and a CimClass.CimClassName, as a CimInstance has. What is registered is
# recorded in the JSON file named by $env:MOCK_SCHEDULEDTASKS_STATE (or Set-MockScheduledTaskStore),
# with every call (cmdlet and parameter names), so tests can check the definition field by field.
$ErrorActionPreference = 'Stop'
. (Join-Path $PSScriptRoot 'Private/Store.ps1')
. (Join-Path $PSScriptRoot 'Private/Objects.ps1')
. (Join-Path $PSScriptRoot 'Private/Tasks.ps1')
Export-ModuleMember -Function *
