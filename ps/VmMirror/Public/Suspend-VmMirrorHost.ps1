function Suspend-VmMirrorHost {
    <#
    .SYNOPSIS
        Drains a host for maintenance: every VM it runs moves to the peer, and nothing starts or fails back onto it until Resume-VmMirrorHost.
    .DESCRIPTION
        Runs 'vmmirror drain <host> --json': each module running on the host is switched over to its
        peer (planned switchover, no data loss) and the host stays in maintenance, even across an
        agent restart. Returns one VmMirror.DrainReport per host (timestamps as [datetime] in UTC).
        A refusal or a failed move is a non-terminating error with the stable code in its
        FullyQualifiedErrorId (e.g. HANDOVER_FAILED,Suspend-VmMirrorHost).
        Moving every VM of a host is a big step: ConfirmImpact is High, so it asks first unless
        -Confirm:$false. -WhatIf runs nothing.
    .PARAMETER HostName
        The host to drain (as cluster.json names it; piped objects with a Name, e.g. (Get-VmMirrorStatus).Hosts).
    .PARAMETER ConfigDirectory
        The config folder of the host to ask (vmmirror --dir).
    .PARAMETER CliPath
        The vmmirror CLI to run. Default: $env:VMMIRROR_CLI, else the package's bin/vmmirror.js.
    .EXAMPLE
        Suspend-VmMirrorHost -HostName hv1

        Ask for confirmation, then move every VM off hv1 and keep it in maintenance.
    .EXAMPLE
        (Get-VmMirrorStatus).Hosts | Where-Object Self | Suspend-VmMirrorHost -Confirm:$false

        Drain the local host without a prompt (before patching it).
    .EXAMPLE
        Suspend-VmMirrorHost -HostName hv1 -WhatIf

        Show what would be drained; nothing moves.
    .OUTPUTS
        VmMirror.DrainReport
    .LINK
        Resume-VmMirrorHost
    #>
    [CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]
    [OutputType('VmMirror.DrainReport')]
    param(
        [Parameter(Mandatory = $true, Position = 0, ValueFromPipeline = $true, ValueFromPipelineByPropertyName = $true)]
        [ValidateNotNullOrEmpty()][Alias('Name')][string[]]$HostName,
        [Parameter(ValueFromPipelineByPropertyName = $true)][Alias('Dir')][string]$ConfigDirectory,
        [string]$CliPath
    )
    process {
        foreach ($h in $HostName) {
            if (-not $PSCmdlet.ShouldProcess($h, 'Drain the host: move every VM it runs to the peer and keep it in maintenance')) { continue }
            $arguments = @('drain', '--json') + @(Get-VmMirrorDirArgument -ConfigDirectory $ConfigDirectory) + @('--', $h)
            Invoke-VmMirrorCommand -Cmdlet $PSCmdlet -Arguments $arguments -CliPath $CliPath -TypeName 'VmMirror.DrainReport' -TargetObject $h
        }
    }
}
