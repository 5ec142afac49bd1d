function Resume-VmMirrorHost {
    <#
    .SYNOPSIS
        Ends a host's maintenance (Suspend-VmMirrorHost): VMs may start on it again and failback brings its default-primary VMs home.
    .DESCRIPTION
        Runs 'vmmirror resume <host> --json' and returns one VmMirror.ResumeReport per host
        (timestamps as [datetime] in UTC). An error is non-terminating, with the stable code in its
        FullyQualifiedErrorId. Supports -WhatIf (nothing is run) and -Confirm.
    .PARAMETER HostName
        The host to resume (piped objects with a Name, e.g. (Get-VmMirrorStatus).Hosts).
    .PARAMETER ConfigDirectory
        The config folder of the host to ask (vmmirror --dir).
    .PARAMETER CliPath
        The vmmirror CLI to run. Default: $env:VMMIRROR_CLI, else the package's bin/vmmirror.js.
    .EXAMPLE
        Resume-VmMirrorHost -HostName hv1

        hv1 is back from maintenance; its VMs with Failback auto return to it.
    .EXAMPLE
        Resume-VmMirrorHost -HostName hv1 -WhatIf

        Show what would happen; nothing changes.
    .OUTPUTS
        VmMirror.ResumeReport
    .LINK
        Suspend-VmMirrorHost
    #>
    [CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'Medium')]
    [OutputType('VmMirror.ResumeReport')]
    param(
        [Parameter(Mandatory = $true, Position = 0, ValueFromPipeline = $true, ValueFromPipelineByPropertyName = $true)]
        [ValidateNotNullOrEmpty()][Alias('Name')][string[]]$HostName,
        [Parameter(ValueFromPipelineByPropertyName = $true)][Alias('Dir')][string]$ConfigDirectory,
        [string]$CliPath
    )
    process {
        foreach ($h in $HostName) {
            if (-not $PSCmdlet.ShouldProcess($h, 'End maintenance: let VMs start and fail back onto the host')) { continue }
            $arguments = @('resume', '--json') + @(Get-VmMirrorDirArgument -ConfigDirectory $ConfigDirectory) + @('--', $h)
            Invoke-VmMirrorCommand -Cmdlet $PSCmdlet -Arguments $arguments -CliPath $CliPath -TypeName 'VmMirror.ResumeReport' -TargetObject $h
        }
    }
}
