function Sync-VmMirror {
    <#
    .SYNOPSIS
        Replicates mirror modules now (a cycle on their primary) and returns each cycle's report.
    .DESCRIPTION
        Runs 'vmmirror sync <module> --json' for each name and waits for the cycle: a VmMirror.SyncReport
        with FromGeneration, ToGeneration, StartedAt/FinishedAt/TakenAt ([datetime], UTC), DurationMs,
        ChangeDetection, bytes scanned, changed and sent, and Files (docs/output.md, vmmirror sync).
        Run it against the module's primary: elsewhere the error is MODULE_NOT_PRIMARY,Sync-VmMirror.
        An unknown name is MODULE_NOT_FOUND,Sync-VmMirror; each error is non-terminating, so the
        other names still sync. Supports -WhatIf (nothing is run) and -Confirm.
    .PARAMETER Name
        Module names (exact; piped strings or objects with a Name property, e.g. from Get-VmMirrorModule).
    .PARAMETER ConfigDirectory
        The config folder of the host to ask (vmmirror --dir); piped module objects carry theirs.
    .PARAMETER TimeoutSeconds
        Give up waiting for the cycle after this many seconds (vmmirror sync --timeout; default 3600).
    .PARAMETER CliPath
        The vmmirror CLI to run. Default: $env:VMMIRROR_CLI, else the package's bin/vmmirror.js.
    .EXAMPLE
        Sync-VmMirror -Name web1

        Run a cycle of web1 now and show its report.
    .EXAMPLE
        Get-VmMirrorModule | Where-Object Role -eq 'Primary' | Sync-VmMirror | Select-Object Module, ToGeneration, BytesChanged, DurationMs

        Replicate every module this host runs, one after the other.
    .EXAMPLE
        Sync-VmMirror -Name db1 -TimeoutSeconds 600 -WhatIf

        Show what would run; nothing is replicated.
    .OUTPUTS
        VmMirror.SyncReport
    .LINK
        Get-VmMirrorModule
    #>
    [CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'Medium')]
    [OutputType('VmMirror.SyncReport')]
    param(
        [Parameter(Mandatory = $true, Position = 0, ValueFromPipeline = $true, ValueFromPipelineByPropertyName = $true)]
        [ValidateNotNullOrEmpty()][Alias('Module')][string[]]$Name,
        [Parameter(ValueFromPipelineByPropertyName = $true)][Alias('Dir')][string]$ConfigDirectory,
        [ValidateRange(1, 2147483647)][int]$TimeoutSeconds,
        [string]$CliPath
    )
    process {
        foreach ($n in $Name) {
            if (-not $PSCmdlet.ShouldProcess($n, 'Replicate the mirror module now')) { continue }
            $arguments = @('sync', '--json') + @(Get-VmMirrorDirArgument -ConfigDirectory $ConfigDirectory)
            if ($PSBoundParameters.ContainsKey('TimeoutSeconds')) { $arguments += "--timeout=$TimeoutSeconds" }
            $arguments += @('--', $n)
            Invoke-VmMirrorCommand -Cmdlet $PSCmdlet -Arguments $arguments -CliPath $CliPath -TypeName 'VmMirror.SyncReport' -TargetObject $n
        }
    }
}
