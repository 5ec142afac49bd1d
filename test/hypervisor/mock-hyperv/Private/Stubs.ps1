# Every CIM/WMI cmdlet the mock does not implement throws, so a script that calls something
# unmocked fails loudly instead of silently doing nothing. Hyper-V cmdlets need no list here: every
# cmdlet of the real module gets a generated function (Private/Signatures.ps1), and one without an
# implementation throws StubNotImplemented.
$script:MockStubNames = @(
    'New-CimInstance', 'Get-CimClass', 'New-CimSession', 'Remove-CimInstance', 'Set-CimInstance',
    'Get-WmiObject', 'Invoke-WmiMethod'
)
foreach ($stubName in $script:MockStubNames) {
    # Dot-sourced after the implementations: never replace one.
    if (Test-Path -Path "function:script:$stubName") { continue }
    Set-Item -Path "function:script:$stubName" -Value { throw "StubNotImplemented: $($MyInvocation.MyCommand.Name) is not mocked by MockHyperV" }
}
