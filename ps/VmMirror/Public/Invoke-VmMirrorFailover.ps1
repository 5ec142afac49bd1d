function Invoke-VmMirrorFailover {
    <#
    .SYNOPSIS
        Moves a VM to the peer host on purpose (planned switchover), with no data loss.
    .DESCRIPTION
        Runs 'vmmirror failover <module|vm> [--to <host>] --json': the VM is stopped where it runs, a
        final delta cycle brings the replica level, and it starts on the peer with the same MAC. Returns
        one VmMirror.FailoverReport per name (from, to, epoch, step timings, downtime, final delta
        bytes; timestamps as [datetime] in UTC). vmmirror refuses, with nothing moved, unless the peer
        is heard and holds the replica in sync and its readiness check passes; the refusal is a
        non-terminating error whose FullyQualifiedErrorId carries the code, for example
        MODULE_NOT_FOUND,Invoke-VmMirrorFailover or HANDOVER_FAILED,Invoke-VmMirrorFailover (the
        message names the failed step; the VM then runs on exactly one host).
        Supports -WhatIf (nothing is run) and -Confirm.
    .PARAMETER Name
        Module name or VM name (exact; piped strings or objects with a Name property).
    .PARAMETER To
        The host to move to; it must be the peer of the host that runs the VM now.
    .PARAMETER ConfigDirectory
        The config folder of the host to ask (vmmirror --dir); piped module objects carry theirs.
    .PARAMETER CliPath
        The vmmirror CLI to run. Default: $env:VMMIRROR_CLI, else the package's bin/vmmirror.js.
    .EXAMPLE
        Invoke-VmMirrorFailover -Name web1

        Move web1 to the peer of the host that runs it, after a prompt if $ConfirmPreference asks.
    .EXAMPLE
        Invoke-VmMirrorFailover -Name web1 -To hv2 -Confirm:$false | Select-Object DowntimeMs

        Move web1 to hv2 without a prompt and show how long it was down.
    .EXAMPLE
        Get-VmMirrorModule | Where-Object Owner -eq 'hv1' | Invoke-VmMirrorFailover -WhatIf

        List what moving every VM off hv1 would do; nothing moves.
    .OUTPUTS
        VmMirror.FailoverReport
    .LINK
        Invoke-VmMirrorFailback
    #>
    [CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'Medium')]
    [OutputType('VmMirror.FailoverReport')]
    param(
        [Parameter(Mandatory = $true, Position = 0, ValueFromPipeline = $true, ValueFromPipelineByPropertyName = $true)]
        [ValidateNotNullOrEmpty()][Alias('Module', 'VmName')][string[]]$Name,
        [ValidateNotNullOrEmpty()][string]$To,
        [Parameter(ValueFromPipelineByPropertyName = $true)][Alias('Dir')][string]$ConfigDirectory,
        [string]$CliPath
    )
    process {
        foreach ($n in $Name) {
            $action = 'Move the VM to its peer host (planned switchover)'
            if ($To) { $action = "Move the VM to host '$To' (planned switchover)" }
            if (-not $PSCmdlet.ShouldProcess($n, $action)) { continue }
            $arguments = @('failover', '--json') + @(Get-VmMirrorDirArgument -ConfigDirectory $ConfigDirectory)
            if ($To) { $arguments += "--to=$To" }
            $arguments += @('--', $n)
            Invoke-VmMirrorCommand -Cmdlet $PSCmdlet -Arguments $arguments -CliPath $CliPath -TypeName 'VmMirror.FailoverReport' -TargetObject $n
        }
    }
}
