function Invoke-VmMirrorCommand {
    <#
    .SYNOPSIS
        What every public cmdlet does after its checks: run the CLI, then return the typed document or report the error through the calling cmdlet.
    .DESCRIPTION
        The error is written by the caller's $PSCmdlet, so its FullyQualifiedErrorId names that cmdlet
        (MODULE_NOT_FOUND,Sync-VmMirror) and -ErrorAction on it decides: an error document from the CLI
        is non-terminating (the pipeline goes on with the next item), a CLI that cannot run terminates.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)][System.Management.Automation.PSCmdlet]$Cmdlet,
        [Parameter(Mandatory = $true)][string[]]$Arguments,
        [Parameter(Mandatory = $true)][string]$TypeName,
        [string]$CliPath,
        $TargetObject
    )
    $reply = Invoke-VmMirrorCli -Arguments $Arguments -CliPath $CliPath -TargetObject $TargetObject
    if ($null -ne $reply.ErrorRecord) {
        if ($reply.Terminating) { $Cmdlet.ThrowTerminatingError($reply.ErrorRecord) }
        $Cmdlet.WriteError($reply.ErrorRecord)
        return
    }
    Add-VmMirrorTypeName -TypeName $TypeName -InputObject $reply.Document
}

function Get-VmMirrorDirArgument {
    <#
    .SYNOPSIS
        '--dir=<full path>' for a -ConfigDirectory given (resolved against PowerShell's location), else nothing.
    .DESCRIPTION
        One '--option=value' word, never '--option value': a value that starts with '-' stays the value.
    #>
    [CmdletBinding()]
    param([AllowEmptyString()][AllowNull()][string]$ConfigDirectory)
    if (-not $ConfigDirectory) { return }
    '--dir=' + $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($ConfigDirectory)
}
