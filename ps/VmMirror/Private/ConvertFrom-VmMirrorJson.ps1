function ConvertFrom-VmMirrorJson {
    <#
    .SYNOPSIS
        Parses a CLI document, keeping every string a string; then makes the ISO 8601 timestamps (*At properties) [datetime] in UTC.
    .DESCRIPTION
        PowerShell 7 turns any string that looks like a date into a [datetime], wherever it is: a VM
        named '2026-01-01T00:00:00Z' would stop being a string. From 7.5 -DateKind String prevents that
        (passed by splatting, so Windows PowerShell 5.1, which never converts, still parses this file);
        the timestamps are then converted by name: every property ending in 'At' (docs/output.md).
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory = $true)][string]$Json)
    $ErrorActionPreference = 'Stop'
    $parameters = @{ InputObject = $Json }
    if ((Get-Command -Name 'ConvertFrom-Json').Parameters.ContainsKey('DateKind')) { $parameters['DateKind'] = 'String' }
    $document = ConvertFrom-Json @parameters
    ConvertTo-VmMirrorDate -InputObject $document
    $document
}

function ConvertTo-VmMirrorDate {
    <#
    .SYNOPSIS
        In place: every property named *At that holds an ISO 8601 string (or a [datetime]) becomes a UTC [datetime], at any depth.
    #>
    [CmdletBinding()]
    param($InputObject)
    if ($null -eq $InputObject) { return }
    if ($InputObject -is [System.Array]) {
        foreach ($item in $InputObject) { ConvertTo-VmMirrorDate -InputObject $item }
        return
    }
    if ($InputObject -isnot [System.Management.Automation.PSCustomObject]) { return }
    foreach ($p in @($InputObject.PSObject.Properties)) {
        $value = $p.Value
        if ($p.Name -cmatch 'At$' -and $value -is [string] -and $value -match '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$') {
            $p.Value = [datetime]::Parse($value, [System.Globalization.CultureInfo]::InvariantCulture, [System.Globalization.DateTimeStyles]::RoundtripKind).ToUniversalTime()
        } elseif ($value -is [datetime]) {
            # PowerShell 7.0-7.4 converted it already, to local time on some versions.
            $p.Value = $value.ToUniversalTime()
        } else {
            ConvertTo-VmMirrorDate -InputObject $value
        }
    }
}

function Add-VmMirrorTypeName {
    <#
    .SYNOPSIS
        Gives objects a PSTypeName (VmMirror.Module, VmMirror.Host, ...) so formatting and scripts can tell the kinds apart; passes them on.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory = $true)][string]$TypeName, [AllowNull()][object[]]$InputObject)
    foreach ($o in @($InputObject)) {
        if ($null -eq $o) { continue }
        $o.PSObject.TypeNames.Insert(0, $TypeName)
        $o
    }
}
