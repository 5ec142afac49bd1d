function Test-VmMirrorConfig {
    <#
    .SYNOPSIS
        Checks a host's vmmirror configuration (cluster.json, host.json, every module file) and lists all problems at once.
    .DESCRIPTION
        Runs 'vmmirror config validate --json' and returns one VmMirror.ConfigValidation object:
        Valid, ConfigDirectory, HostName, ModuleCount and Problems (VmMirror.ConfigProblem objects
        with File, Path and Message; an array, empty when valid). An invalid configuration is a
        result, not an error. With -Quiet only $true or $false is returned.
    .PARAMETER ConfigDirectory
        The config folder to check (vmmirror --dir). Default: $env:VMMIRROR_CONFIG_DIR, else the platform default.
    .PARAMETER Quiet
        Return only whether the configuration is valid.
    .PARAMETER CliPath
        The vmmirror CLI to run. Default: $env:VMMIRROR_CLI, else the package's bin/vmmirror.js.
    .EXAMPLE
        Test-VmMirrorConfig

        Check the default config folder; Problems lists each one with its file and field.
    .EXAMPLE
        Test-VmMirrorConfig -ConfigDirectory D:\vmmirror | Select-Object -ExpandProperty Problems | Format-Table File, Path, Message

        Every problem of another config folder as a table.
    .EXAMPLE
        if (-not (Test-VmMirrorConfig -Quiet)) { throw 'fix the vmmirror configuration first' }

        Stop a script when the configuration is invalid.
    .OUTPUTS
        VmMirror.ConfigValidation, or System.Boolean with -Quiet
    #>
    [CmdletBinding()]
    [OutputType('VmMirror.ConfigValidation', [bool])]
    param(
        [Parameter(Position = 0, ValueFromPipelineByPropertyName = $true)][Alias('Dir')][string]$ConfigDirectory,
        [switch]$Quiet,
        [string]$CliPath
    )
    process {
        $arguments = @('config', 'validate', '--json') + @(Get-VmMirrorDirArgument -ConfigDirectory $ConfigDirectory)
        $result = Invoke-VmMirrorCommand -Cmdlet $PSCmdlet -Arguments $arguments -CliPath $CliPath -TypeName 'VmMirror.ConfigValidation' -TargetObject $ConfigDirectory
        if ($null -eq $result) { return }
        foreach ($p in @($result.Problems)) { [void](Add-VmMirrorTypeName -TypeName 'VmMirror.ConfigProblem' -InputObject $p) }
        if ($Quiet) { return [bool]$result.Valid }
        $result
    }
}
