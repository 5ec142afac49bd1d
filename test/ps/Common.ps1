# Shared setup for the Pester tests of ps/: the mock module is loaded WITHOUT a state folder, so
# every Hyper-V cmdlet a test does not Mock throws (as do the stubs for cmdlets it never mocks).
Remove-Item Env:MOCK_HYPERV_STATE -ErrorAction SilentlyContinue
Import-Module (Join-Path $PSScriptRoot '../hypervisor/mock-hyperv/Hyper-V.psd1') -DisableNameChecking -Force
$script:PsDir = Join-Path $PSScriptRoot '../../ps'

function Get-TestVmGuid {
    # A function, not a $script: variable: Mock bodies run in Pester's scope, where $script: differs.
    [guid]'11111111-2222-4333-8444-555555555555'
}

function Invoke-DriverScript {
    # Runs a ps/ script the way the runner does and returns its one reply as an object.
    param([string]$Name, $InputObject)
    $json = ConvertTo-Json -InputObject $InputObject -Depth 10 -Compress
    $b64 = [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($json))
    $out = @(& (Join-Path $script:PsDir "$Name.ps1") -InputBase64 $b64)
    $replies = @($out | Where-Object { ([string]$_).StartsWith('{') })
    if ($replies.Count -ne 1) { throw "expected one reply from $Name, got: $($out -join ' | ')" }
    ConvertFrom-Json -InputObject $replies[0]
}

function New-FakeVm {
    param([string]$State = 'Off', [string]$Heartbeat, [string]$Name = 'vm')
    $hb = $null
    if ($Heartbeat) { $hb = [MockHyperV.VMHeartbeatStatus]$Heartbeat }
    [pscustomobject]@{ Id = (Get-TestVmGuid); Name = $Name; State = [MockHyperV.VMState]$State; Heartbeat = $hb
        MemoryStartup = 1073741824; ProcessorCount = 2; Version = '9.0'; Generation = 2 }
}
