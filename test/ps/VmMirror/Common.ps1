# Shared by the VmMirror module's Pester tests: import the module under test from ps/VmMirror.
$script:ModuleManifest = Join-Path $PSScriptRoot '../../../ps/VmMirror/VmMirror.psd1'
Import-Module $script:ModuleManifest -Force

function ConvertFrom-RawJson {
    # The tests' own reading of a document: every string stays a string (the module's conversion is what is under test).
    param([string]$Json)
    ConvertFrom-Json -InputObject $Json -DateKind String -NoEnumerate
}
