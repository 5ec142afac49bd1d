# Mock Hyper-V PowerShell module for vmmirror's tests (no Hyper-V here).
# Functions named like the real cmdlets, state in a folder ($env:MOCK_HYPERV_STATE or
# Set-MockHyperVState). Faithful where vmmirror relies on Hyper-V's behaviour; everything it does
# not implement throws 'StubNotImplemented' (Private/Stubs.ps1, Private/Signatures.ps1), and no cmdlet
# accepts a parameter the real Hyper-V 2.0.0.0 lacks (Private/Signatures.ps1). See docs/hyperv-driver.md.
$ErrorActionPreference = 'Stop'
. (Join-Path $PSScriptRoot 'Private/Enums.ps1')
. (Join-Path $PSScriptRoot 'Private/State.ps1')
. (Join-Path $PSScriptRoot 'Private/Vm.ps1')
. (Join-Path $PSScriptRoot 'Private/Disk.ps1')
. (Join-Path $PSScriptRoot 'Private/CimClasses.ps1')
. (Join-Path $PSScriptRoot 'Private/CimXml.ps1')
. (Join-Path $PSScriptRoot 'Private/Cim.ps1')
. (Join-Path $PSScriptRoot 'Private/CimMethods.ps1')
. (Join-Path $PSScriptRoot 'Private/Import.ps1')
. (Join-Path $PSScriptRoot 'Private/TestHelpers.ps1')
. (Join-Path $PSScriptRoot 'Private/Stubs.ps1')
# Last: every Hyper-V cmdlet takes exactly the real module's parameters (generated from the facts).
. (Join-Path $PSScriptRoot 'Private/Signatures.ps1')
Export-ModuleMember -Function *
