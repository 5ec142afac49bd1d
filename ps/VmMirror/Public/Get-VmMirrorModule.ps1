function Get-VmMirrorModule {
    <#
    .SYNOPSIS
        Gets the mirror modules (VMs under vmmirror) as this host's agent sees them.
    .DESCRIPTION
        Runs 'vmmirror status --json' and writes one VmMirror.Module object per module: Name, VmName,
        State (PRIM, SECOND, ALONE, WAIT, STOP), Role, Epoch, Owner, RunningOn, generations,
        ReplicationLagMs, DataAtRiskBytes, Resync, LastError... (docs/output.md), plus Host (the
        host that reported) and ConfigDirectory. Timestamps are [datetime] in UTC.
        -Name matches module names exactly (case-insensitive, no wildcards: a name is data); a name
        that matches no module is a non-terminating error MODULE_NOT_FOUND,Get-VmMirrorModule.
    .PARAMETER Name
        Module names to return (exact). Default: every module.
    .PARAMETER ConfigDirectory
        The host's config folder (vmmirror --dir). Default: $env:VMMIRROR_CONFIG_DIR, else the platform default.
    .PARAMETER CliPath
        The vmmirror CLI to run. Default: $env:VMMIRROR_CLI, else the package's bin/vmmirror.js.
    .EXAMPLE
        Get-VmMirrorModule

        Every module with its state, owner and replication lag.
    .EXAMPLE
        Get-VmMirrorModule | Where-Object State -eq 'ALONE' | Invoke-VmMirrorFailback

        Bring home every VM that runs without its peer's copy being in sync, once the peer is back.
    .EXAMPLE
        Get-VmMirrorModule -Name web1, db1 | Select-Object Name, State, ReplicationLagMs, ReplicaTakenAt

        Two modules' RPO now.
    .OUTPUTS
        VmMirror.Module
    .LINK
        Get-VmMirrorStatus
    #>
    [CmdletBinding()]
    [OutputType('VmMirror.Module')]
    param(
        [Parameter(Position = 0)][ValidateNotNullOrEmpty()][string[]]$Name,
        [Alias('Dir')][string]$ConfigDirectory,
        [string]$CliPath
    )
    $status = Get-VmMirrorStatusDocument -Cmdlet $PSCmdlet -ConfigDirectory $ConfigDirectory -CliPath $CliPath
    if ($null -eq $status) { return }
    $modules = @($status.Modules)
    if (-not $PSBoundParameters.ContainsKey('Name')) { return $modules }
    foreach ($n in $Name) {
        $found = @($modules | Where-Object { $_.Name -eq $n })
        if ($found.Count -eq 0) {
            $known = @($modules | ForEach-Object { $_.Name }) -join ', '
            $PSCmdlet.WriteError((New-VmMirrorErrorRecord -Code 'MODULE_NOT_FOUND' -Message "no module named '$n' on $($status.Host) (modules: $known)" -TargetObject $n))
            continue
        }
        $found
    }
}
