function Invoke-VmMirrorFailback {
    <#
    .SYNOPSIS
        Moves a VM back to its default primary host now (for modules with Failback manual, or to not wait for the automatic one).
    .DESCRIPTION
        Runs 'vmmirror failback <module> --json': once the default primary holds the replica in sync
        (SECOND), the same planned switchover as Invoke-VmMirrorFailover brings the VM home with no
        data loss. Returns one VmMirror.FailbackReport per module (timestamps as [datetime] in UTC).
        A refusal is a non-terminating error with the stable code in its FullyQualifiedErrorId
        (e.g. MODULE_NOT_FOUND,Invoke-VmMirrorFailback); nothing moves then.
        Supports -WhatIf (nothing is run) and -Confirm.
    .PARAMETER Name
        Module names (exact; piped strings or objects with a Name property, e.g. from Get-VmMirrorModule).
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
        VmMirror.FailbackReport
    .LINK
        Invoke-VmMirrorFailover
    #>
    [CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'Medium')]
    [OutputType('VmMirror.FailbackReport')]
    param(
        [Parameter(Mandatory = $true, Position = 0, ValueFromPipeline = $true, ValueFromPipelineByPropertyName = $true)]
        [ValidateNotNullOrEmpty()][Alias('Module')][string[]]$Name,
        [Parameter(ValueFromPipelineByPropertyName = $true)][Alias('Dir')][string]$ConfigDirectory,
        [string]$CliPath
    )
    process {
        foreach ($n in $Name) {
            if (-not $PSCmdlet.ShouldProcess($n, 'Move the VM back to its default primary host')) { continue }
            $arguments = @('failback', '--json') + @(Get-VmMirrorDirArgument -ConfigDirectory $ConfigDirectory) + @('--', $n)
            Invoke-VmMirrorCommand -Cmdlet $PSCmdlet -Arguments $arguments -CliPath $CliPath -TypeName 'VmMirror.FailbackReport' -TargetObject $n
        }
    }
}
