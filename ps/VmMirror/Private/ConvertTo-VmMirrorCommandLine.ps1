function ConvertTo-VmMirrorCommandLine {
    <#
    .SYNOPSIS
        Joins arguments into one Windows command line that the C runtime (and node) splits back into exactly those arguments.
    .DESCRIPTION
        Windows PowerShell 5.1 runs on .NET Framework, whose ProcessStartInfo takes one command-line
        string (no ArgumentList). PowerShell's own native-command quoting there drops embedded quotes,
        so this follows the CommandLineToArgvW rules instead: quote an argument that is empty or holds
        a space, tab or quote; inside quotes, a quote becomes \" and the backslashes before a quote (or
        before the closing quote) are doubled.
    #>
    [CmdletBinding()]
    param([AllowEmptyString()][string[]]$Arguments)
    $ErrorActionPreference = 'Stop'
    $backslash = [char]92
    $parts = New-Object System.Collections.Generic.List[string]
    foreach ($a in $Arguments) {
        if ($a.Length -gt 0 -and $a -notmatch '[\s"]') { $parts.Add($a); continue }
        $sb = New-Object System.Text.StringBuilder
        [void]$sb.Append('"')
        $run = 0
        foreach ($c in $a.ToCharArray()) {
            if ($c -eq $backslash) { $run++; continue }
            if ($c -eq [char]'"') {
                [void]$sb.Append($backslash, 2 * $run + 1)
            } elseif ($run -gt 0) {
                [void]$sb.Append($backslash, $run)
            }
            $run = 0
            [void]$sb.Append($c)
        }
        [void]$sb.Append($backslash, 2 * $run)
        [void]$sb.Append('"')
        $parts.Add($sb.ToString())
    }
    $parts -join ' '
}
