function Get-VmMirrorStatus {
    <#
    .SYNOPSIS
        Gets the cluster as this host's vmmirror agent sees it: hosts, quorum, witness and every module.
    .DESCRIPTION
        Runs 'vmmirror status --json' and returns one VmMirror.Status object. Its Hosts are
        VmMirror.Host objects and its Modules VmMirror.Module objects (each also carrying the
        ConfigDirectory it was read with, so it can be piped to Sync-VmMirror or Invoke-VmMirrorFailback).
        Timestamps (every property ending in 'At') are [datetime] in UTC; lists are always arrays,
        even of one element. The fields are described in docs/output.md (vmmirror status).
        When the agent does not answer, the error's FullyQualifiedErrorId is
        AGENT_UNREACHABLE,Get-VmMirrorStatus.
    .PARAMETER ConfigDirectory
        The host's config folder (vmmirror --dir). Default: $env:VMMIRROR_CONFIG_DIR, else the
        platform default (C:\ProgramData\vmmirror).
    .PARAMETER CliPath
        The vmmirror CLI to run (bin/vmmirror.js or an executable). Default: $env:VMMIRROR_CLI, else
        the bin/vmmirror.js of the package this module ships in.
    .EXAMPLE
        Get-VmMirrorStatus

        The status of the local host: Cluster, Host, Quorum, Witness, Hosts and Modules.
    .EXAMPLE
        (Get-VmMirrorStatus).Hosts | Format-Table

        Both hosts: reachable, link connected, last heartbeat.
    .EXAMPLE
        $s = Get-VmMirrorStatus -ConfigDirectory D:\vmmirror; $s.Quorum.HoldsLease

        Whether this host holds its lease (may run VMs) now.
    .OUTPUTS
        VmMirror.Status
    .LINK
        Get-VmMirrorModule
    #>
    [CmdletBinding()]
    [OutputType('VmMirror.Status')]
    param(
        [Parameter(ValueFromPipelineByPropertyName = $true)][Alias('Dir')][string]$ConfigDirectory,
        [string]$CliPath
    )
    process {
        Get-VmMirrorStatusDocument -Cmdlet $PSCmdlet -ConfigDirectory $ConfigDirectory -CliPath $CliPath
    }
}
