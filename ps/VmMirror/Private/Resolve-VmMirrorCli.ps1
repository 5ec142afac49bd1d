function Resolve-VmMirrorCli {
    <#
    .SYNOPSIS
        Finds the program to start for the vmmirror CLI: -CliPath, else $env:VMMIRROR_CLI, else the module's default.
    .DESCRIPTION
        Returns @{ FileName; Prefix } where Prefix are the arguments that come before the CLI's own
        (the script, for a .js CLI run with node). Throws an ErrorRecord (FILE_NOT_FOUND, USAGE) when
        the CLI cannot be run safely: the caller turns it into a terminating error.
    #>
    [CmdletBinding()]
    param([string]$CliPath)
    $ErrorActionPreference = 'Stop'
    $path = $CliPath
    if (-not $path) { $path = $env:VMMIRROR_CLI }
    if (-not $path) { $path = $script:VmMirrorCliPath }
    $full = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($path)
    if (-not (Test-Path -LiteralPath $full -PathType Leaf)) {
        throw (New-VmMirrorErrorRecord -Code 'FILE_NOT_FOUND' -Message "vmmirror CLI not found at '$full' (set `$env:VMMIRROR_CLI or pass -CliPath: the path of bin/vmmirror.js or of a vmmirror executable)" -TargetObject $full)
    }
    $extension = [System.IO.Path]::GetExtension($full).ToLowerInvariant()
    if (@('.cmd', '.bat') -contains $extension) {
        # cmd.exe expands % and obeys & | < > in a batch file's arguments: a VM name would be source.
        throw (New-VmMirrorErrorRecord -Code 'USAGE' -Message "refusing to run the vmmirror CLI through '$full': cmd.exe would parse its arguments again (a name could become a command); point -CliPath or `$env:VMMIRROR_CLI at the package's bin/vmmirror.js instead" -TargetObject $full)
    }
    if (@('.js', '.cjs', '.mjs') -contains $extension) {
        $node = $env:VMMIRROR_NODE
        if (-not $node) {
            $found = @(Get-Command -Name 'node' -CommandType Application -ErrorAction SilentlyContinue)
            if ($found.Count -eq 0) {
                throw (New-VmMirrorErrorRecord -Code 'FILE_NOT_FOUND' -Message "node not found on the PATH (needed to run '$full'; or set `$env:VMMIRROR_NODE)" -TargetObject $full)
            }
            $node = $found[0].Path
        }
        return @{ FileName = $node; Prefix = @($full) }
    }
    @{ FileName = $full; Prefix = @() }
}
