function Invoke-VmMirrorFailback {
    <#
    .SYNOPSIS
        Moves a VM back to its default primary host now (for modules with Failback manual, or to not wait for the automatic one).
    .DESCRIPTION
        Runs 'vmmirror failback <module> --json': once the default primary holds the replica in sync
        (SECOND), the same planned switchover as Invoke-VmMirrorFailover brings the VM home with no
        data loss. Returns one VmMirror.Switchover per module, as Invoke-VmMirrorFailover does (Checks,
        Result with the step timings and DowntimeMs; timestamps as [datetime] in UTC). A refusal is a
        non-terminating error with the stable code in its FullyQualifiedErrorId, e.g.
        SWITCHOVER_REFUSED,Invoke-VmMirrorFailback (already home, or not in sync yet) or
        MODULE_NOT_FOUND,Invoke-VmMirrorFailback; nothing moves then.
        -Plan asks the agent for the plan and its checks (vmmirror --what-if) and moves nothing.
        Supports -WhatIf (nothing is run at all, not even -Plan) and -Confirm.
    .PARAMETER Name
        Module names (exact; piped strings or objects with a Name property, e.g. from Get-VmMirrorModule).
    .PARAMETER Plan
        Return the plan (from, to, each check and its result) without moving anything (vmmirror --what-if). Result is then null.
    .PARAMETER TimeoutSeconds
        Give up waiting for the switchover after this many seconds (vmmirror --timeout; default 3600).
    .PARAMETER ConfigDirectory
        The config folder of the host to ask (vmmirror --dir); piped module objects carry theirs.
    .PARAMETER CliPath
        The vmmirror CLI to run. Default: $env:VMMIRROR_CLI, else the package's bin/vmmirror.js.
    .EXAMPLE
        Invoke-VmMirrorFailback -Name db1

        Bring db1 home to its default primary.
    .EXAMPLE
        Get-VmMirrorModule | Where-Object State -eq 'ALONE' | Invoke-VmMirrorFailback -Confirm:$false

        Every module that ran alone while its default primary was away goes home, without prompts.
    .EXAMPLE
        Get-VmMirrorModule | Where-Object { $_.Owner -ne $_.DefaultPrimary } | Invoke-VmMirrorFailback -WhatIf

        Which modules are away from home; nothing moves.
    .OUTPUTS
        VmMirror.Switchover
    .LINK
        Invoke-VmMirrorFailover
    #>
    [CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'Medium')]
    [OutputType('VmMirror.Switchover')]
    param(
        [Parameter(Mandatory = $true, Position = 0, ValueFromPipeline = $true, ValueFromPipelineByPropertyName = $true)]
        [ValidateNotNullOrEmpty()][Alias('Module')][string[]]$Name,
        [switch]$Plan,
        [ValidateRange(1, 2147483647)][int]$TimeoutSeconds,
        [Parameter(ValueFromPipelineByPropertyName = $true)][Alias('Dir')][string]$ConfigDirectory,
        [string]$CliPath
    )
    process {
        foreach ($n in $Name) {
            $what = 'Move the VM back to its default primary host'
            if ($Plan) { $what = 'Ask for the switchover plan and its checks (nothing moves)' }
            if (-not $PSCmdlet.ShouldProcess($n, $what)) { continue }
            $arguments = @('failback', '--json') + @(Get-VmMirrorDirArgument -ConfigDirectory $ConfigDirectory)
            if ($Plan) { $arguments += '--what-if' }
            if ($PSBoundParameters.ContainsKey('TimeoutSeconds')) { $arguments += "--timeout=$TimeoutSeconds" }
            $arguments += @('--', $n)
            ConvertTo-VmMirrorSwitchover (Invoke-VmMirrorCommand -Cmdlet $PSCmdlet -Arguments $arguments -CliPath $CliPath -TypeName 'VmMirror.Switchover' -TargetObject $n)
        }
    }
}
