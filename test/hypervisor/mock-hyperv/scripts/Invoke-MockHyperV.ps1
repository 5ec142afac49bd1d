<#
.SYNOPSIS
    Test-side entry into the mock Hyper-V module, run through the same base64 channel as ps/ scripts.
.PARAMETER InputBase64
    Base64 of UTF-8 JSON: { "Op": "NewVm"|"GuestWrite"|"SetHost"|"GetState", "Args": {...} }.
#>
[CmdletBinding()]
param([Parameter(Mandatory = $true)][ValidatePattern('^[A-Za-z0-9+/=]*$')][string]$InputBase64)
$ErrorActionPreference = 'Stop'
try {
    $in = ConvertFrom-Json -InputObject ([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($InputBase64))) -AsHashtable
    $a = $in.Args
    $result = $null
    switch ($in.Op) {
        'NewVm' {
            $p = @{ Name = $a.Name; Disks = @($a.Disks); Adapters = @($a.Adapters) }
            foreach ($k in @('Id', 'MemoryBytes', 'ProcessorCount', 'Version', 'Generation', 'HeartbeatDelayMs', 'State')) { if ($a.ContainsKey($k)) { $p[$k] = $a[$k] } }
            $result = @{ Id = (New-MockVm @p).ToLowerInvariant() }
        }
        'GuestWrite' { $result = @{ Target = (Write-MockGuestData -VmId $a.VmId -DiskIndex $a.DiskIndex -Offset $a.Offset -Length $a.Length -Pattern $a.Pattern) } }
        'SetHost' { Set-MockHost -Settings $a; $result = @{} }
        'GetState' { $result = Get-MockState }
        default { throw "unknown mock op $($in.Op)" }
    }
    Write-Output (ConvertTo-Json -InputObject @{ Ok = $true; Result = $result } -Depth 30 -Compress)
} catch {
    Write-Output (ConvertTo-Json -InputObject @{ Ok = $false; Error = @{ Code = 'HYPERVISOR_ERROR'; Message = $_.Exception.Message } } -Compress)
}
