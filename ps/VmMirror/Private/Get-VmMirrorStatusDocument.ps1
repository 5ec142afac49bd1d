function Get-VmMirrorStatusDocument {
    <#
    .SYNOPSIS
        'vmmirror status --json' as a typed VmMirror.Status, errors reported through the calling cmdlet (Get-VmMirrorStatus, Get-VmMirrorModule).
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)][System.Management.Automation.PSCmdlet]$Cmdlet,
        [AllowEmptyString()][AllowNull()][string]$ConfigDirectory,
        [string]$CliPath
    )
    $arguments = @('status', '--json') + @(Get-VmMirrorDirArgument -ConfigDirectory $ConfigDirectory)
    $status = Invoke-VmMirrorCommand -Cmdlet $Cmdlet -Arguments $arguments -CliPath $CliPath -TypeName 'VmMirror.Status' -TargetObject $ConfigDirectory
    if ($null -eq $status) { return }
    $dir = $null
    if ($ConfigDirectory) { $dir = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($ConfigDirectory) }
    foreach ($h in @($status.Hosts)) { [void](Add-VmMirrorTypeName -TypeName 'VmMirror.Host' -InputObject $h) }
    foreach ($m in @($status.Modules)) {
        [void](Add-VmMirrorTypeName -TypeName 'VmMirror.Module' -InputObject $m)
        # Which agent said so, and how to reach it again: piped on, these bind by property name.
        Add-Member -InputObject $m -NotePropertyName 'Host' -NotePropertyValue $status.Host -Force
        Add-Member -InputObject $m -NotePropertyName 'ConfigDirectory' -NotePropertyValue $dir -Force
    }
    $status
}
