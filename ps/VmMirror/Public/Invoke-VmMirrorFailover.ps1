function Invoke-VmMirrorFailover {
    <#
    .SYNOPSIS
        Moves a VM to the peer host on purpose (planned switchover), with no data loss.
    .DESCRIPTION
        Runs 'vmmirror failover <module|vm> [--to <host>] --json': the VM is stopped where it runs, a
        final delta cycle brings the replica level, and it starts on the peer with the same MAC. Returns
        one VmMirror.Switchover per name: Module, VmName, Action, From, To, Epoch, Checks (each
        VmMirror.SwitchoverCheck: Name, Passed, Detail) and Result (VmMirror.SwitchoverResult: Epoch,
        FromGeneration, ToGeneration, FinalDeltaBytes, StopMs, FinalSyncMs, StartMs, DowntimeMs,
        FinishedAt as [datetime] in UTC). vmmirror refuses, with nothing moved, unless the peer is
        heard and holds the replica in sync and its readiness check passes; the refusal is a
        non-terminating error whose FullyQualifiedErrorId carries the code, for example
        SWITCHOVER_REFUSED,Invoke-VmMirrorFailover (Exception.Data['Details'].Checks says which check
        failed), MODULE_NOT_FOUND,Invoke-VmMirrorFailover or HANDOVER_FAILED,Invoke-VmMirrorFailover
        (the message names the failed step; the VM then runs on exactly one host).
        -Plan asks the agent for the plan and its checks (vmmirror --what-if) and moves nothing.
        Supports -WhatIf (nothing is run at all, not even -Plan) and -Confirm.
    .PARAMETER Name
        Module name or VM name (exact; piped strings or objects with a Name property).
    .PARAMETER To
        The host to move to; it must be the peer of the host that runs the VM now.
    .PARAMETER Plan
        Return the plan (from, to, each check and its result) without moving anything (vmmirror --what-if). Result is then null.
    .PARAMETER TimeoutSeconds
        Give up waiting for the switchover after this many seconds (vmmirror --timeout; default 3600).
    .PARAMETER ConfigDirectory
        The config folder of the host to ask (vmmirror --dir); piped module objects carry theirs.
    .PARAMETER CliPath
        The vmmirror CLI to run. Default: $env:VMMIRROR_CLI, else the package's bin/vmmirror.js.
    .EXAMPLE
        Invoke-VmMirrorFailover -Name web1

        Move web1 to the peer of the host that runs it, after a prompt if $ConfirmPreference asks.
    .EXAMPLE
        (Invoke-VmMirrorFailover -Name web1 -To hv2 -Confirm:$false).Result | Select-Object DowntimeMs, FinalDeltaBytes

        Move web1 to hv2 without a prompt and show how long it was down.
    .EXAMPLE
        (Invoke-VmMirrorFailover -Name web1 -Plan).Checks | Format-Table Name, Passed, Detail

        Would the move be allowed now? Each check and its result; nothing moves.
    .EXAMPLE
        Get-VmMirrorModule | Where-Object Owner -eq 'hv1' | Invoke-VmMirrorFailover -WhatIf

        List what moving every VM off hv1 would do; nothing moves.
    .OUTPUTS
        VmMirror.Switchover
    .LINK
        Invoke-VmMirrorFailback
    #>
    [CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'Medium')]
    [OutputType('VmMirror.Switchover')]
    param(
        [Parameter(Mandatory = $true, Position = 0, ValueFromPipeline = $true, ValueFromPipelineByPropertyName = $true)]
        [ValidateNotNullOrEmpty()][Alias('Module', 'VmName')][string[]]$Name,
        [ValidateNotNullOrEmpty()][string]$To,
        [switch]$Plan,
        [ValidateRange(1, 2147483647)][int]$TimeoutSeconds,
        [Parameter(ValueFromPipelineByPropertyName = $true)][Alias('Dir')][string]$ConfigDirectory,
        [string]$CliPath
    )
    process {
        foreach ($n in $Name) {
            $what = 'Move the VM to its peer host (planned switchover)'
            if ($To) { $what = "Move the VM to host '$To' (planned switchover)" }
            if ($Plan) { $what = 'Ask for the switchover plan and its checks (nothing moves)' }
            if (-not $PSCmdlet.ShouldProcess($n, $what)) { continue }
            $arguments = @('failover', '--json') + @(Get-VmMirrorDirArgument -ConfigDirectory $ConfigDirectory)
            if ($To) { $arguments += "--to=$To" }
            if ($Plan) { $arguments += '--what-if' }
            if ($PSBoundParameters.ContainsKey('TimeoutSeconds')) { $arguments += "--timeout=$TimeoutSeconds" }
            $arguments += @('--', $n)
            ConvertTo-VmMirrorSwitchover (Invoke-VmMirrorCommand -Cmdlet $PSCmdlet -Arguments $arguments -CliPath $CliPath -TypeName 'VmMirror.Switchover' -TargetObject $n)
        }
    }
}
