<#
.SYNOPSIS
    Releases the frozen views vmmirror left behind on a VM: merges them, makes no reference point.
.DESCRIPTION
    Left behind = a recovery snapshot named "vmmirror-view ..." (New-MirrorFrozenView names every view it makes) that
    is not in KeepViewIds (views a caller still holds), plus what a failed freeze reported: ViewIds, and JobIds of
    CreateSnapshot jobs that were still running at its deadline (waited for here, then their snapshot is released;
    one still running at this script's deadline is returned in PendingJobIds). A backup product's snapshots are
    never touched. DestroySnapshot, then wait until no drive points at an .avhdx.
    Part of vmmirror's Hyper-V driver (docs/ps-contract.md): one argument, one JSON object out.
.PARAMETER InputBase64
    Base64 of UTF-8 JSON: { "VmId": guid, "KeepViewIds": [string], "ViewIds": [string], "JobIds": [string], "TimeoutMs": number }.
.OUTPUTS
    One JSON line: {"Ok":true,"Result":{"Released":[string],"PendingJobIds":[string]}} or {"Ok":false,"Error":{"Code":...,"Message":...}}.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][ValidatePattern('^[A-Za-z0-9+/=]*$')][string]$InputBase64
)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
try {
    . (Join-Path $PSScriptRoot 'Private/MirrorCommon.ps1')
    . (Join-Path $PSScriptRoot 'Private/MirrorCim.ps1')
    . (Join-Path $PSScriptRoot 'Private/MirrorView.ps1')
    $in = ConvertFrom-MirrorInput -InputBase64 $InputBase64
    $id = ConvertTo-MirrorGuid -Value $in.VmId
    $deadline = Get-MirrorDeadline -TimeoutMs $in.TimeoutMs
    $keep = @($in.KeepViewIds | Where-Object { $_ } | ForEach-Object { [string]$_ })
    [void](Get-MirrorVmById -Id $id)
    $targets = New-Object System.Collections.ArrayList
    $pending = New-Object System.Collections.ArrayList
    foreach ($jobText in @($in.JobIds | Where-Object { $_ })) {
        # Only a GUID reaches the WQL filter (Hyper-V's job InstanceIDs are GUIDs).
        $jobGuid = ConvertTo-MirrorGuid -Value $jobText -What 'JobId'
        $job = @(Get-CimInstance -Namespace $script:MirrorNamespace -ClassName Msvm_ConcreteJob -Filter ("InstanceID='" + $jobGuid.ToString() + "'"))[0]
        while ($null -ne $job -and @(2, 3, 4, 5, 6) -contains [int]$job.JobState -and [DateTime]::UtcNow -lt $deadline) {
            Start-Sleep -Milliseconds 100
            $job = Get-CimInstance -InputObject $job
        }
        if ($null -eq $job) { continue }
        if (@(2, 3, 4, 5, 6) -contains [int]$job.JobState) { [void]$pending.Add([string]$jobText); continue }
        if (@(7, 32768) -notcontains [int]$job.JobState) { continue }
        foreach ($s in @(Get-CimAssociatedInstance -InputObject $job -ResultClassName Msvm_VirtualSystemSettingData)) { [void]$targets.Add([string]$s.InstanceID) }
    }
    foreach ($v in @($in.ViewIds | Where-Object { $_ })) { [void]$targets.Add([string]$v) }
    foreach ($s in (Get-MirrorLeftoverViews -VmId $id -Keep $keep)) { [void]$targets.Add([string]$s.InstanceID) }
    $released = New-Object System.Collections.ArrayList
    foreach ($viewId in @($targets.ToArray() | Select-Object -Unique)) {
        if ($keep -contains $viewId) { continue }
        $snap = Get-MirrorSnapshotById -VmId $id -InstanceId $viewId
        if ($null -eq $snap) { continue }
        Remove-MirrorSnapshotMerged -Snapshot $snap -VmId $id -Deadline $deadline
        [void]$released.Add($viewId)
    }
    Write-MirrorResult -Result @{ Released = @($released.ToArray()); PendingJobIds = @($pending.ToArray()) }
} catch {
    Write-MirrorError -ErrorRecord $_
}
