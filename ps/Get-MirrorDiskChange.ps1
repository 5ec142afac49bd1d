<#
.SYNOPSIS
    Changed virtual-disk byte ranges since an RCT reference, per disk.
.DESCRIPTION
    Msvm_ImageManagementService.GetVirtualDiskChanges in 1 GiB requests, advancing by ProcessedByteLength (answers may be
    partial). Any failure, or an answer that makes no progress, is RCT_UNAVAILABLE: the caller scans instead.
    The loop has its own deadline, TimeoutMs (the driver sets the runner's timeout 15 s above it): on a large disk or a
    slow host the query ends in RCT_UNAVAILABLE, so the cycle falls back to a scan instead of the runner killing the
    session. Each call is bounded too (-OperationTimeoutSec, the time left). TargetSnapshotId is left out: it is
    documented as valid only for VHD Sets.
    Part of vmmirror's Hyper-V driver (docs/ps-contract.md): one argument, one JSON object out.
.PARAMETER InputBase64
    Base64 of UTF-8 JSON: { "VmId": guid, "Disks": [{ "BasePath", "ReadPath", "SizeBytes", "RctId" }], "TimeoutMs": number }.
.OUTPUTS
    One JSON line: {"Ok":true,"Result":{"Disks":[{"BasePath","VirtualSizeBytes","Ranges":[{"Offset","Length"}]}]}} or {"Ok":false,"Error":{"Code":...,"Message":...}}.
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
    $in = ConvertFrom-MirrorInput -InputBase64 $InputBase64
    $deadline = Get-MirrorDeadline -TimeoutMs $in.TimeoutMs
    $ims = Get-MirrorCimService -ClassName Msvm_ImageManagementService
    $result = New-Object System.Collections.ArrayList
    foreach ($d in @($in.Disks)) {
        $size = [uint64]$d.SizeBytes
        $off = [uint64]0
        $ranges = New-Object System.Collections.ArrayList
        try {
            while ($off -lt $size) {
                $left = ($deadline - [DateTime]::UtcNow).TotalSeconds
                if ($left -le 0) { throw "the change query passed its deadline (TimeoutMs) at byte $off of $size" }
                $len = [uint64]1073741824
                if ($size - $off -lt $len) { $len = [uint64]($size - $off) }
                $r = Invoke-CimMethod -InputObject $ims -MethodName GetVirtualDiskChanges -OperationTimeoutSec ([uint32][Math]::Ceiling($left)) -Arguments @{
                    Path = [string]$d.ReadPath; LimitId = [string]$d.RctId; ByteOffset = $off; ByteLength = $len }
                [void](Wait-MirrorCimJob -Result $r -Deadline $deadline -What 'GetVirtualDiskChanges' -FailCode 'RCT_UNAVAILABLE')
                $offsets = @($r.ChangedByteOffsets)
                $lengths = @($r.ChangedByteLengths)
                if ($offsets.Count -ne $lengths.Count) { throw 'ChangedByteOffsets and ChangedByteLengths differ in length' }
                for ($i = 0; $i -lt $offsets.Count; $i++) {
                    if ($null -eq $offsets[$i]) { continue }
                    [void]$ranges.Add(@{ Offset = [uint64]$offsets[$i]; Length = [uint64]$lengths[$i] })
                }
                $processed = [uint64]$r.ProcessedByteLength
                if ($processed -eq 0) { throw 'GetVirtualDiskChanges processed 0 bytes' }
                $off = $off + $processed
            }
        } catch {
            $msg = $_.Exception.Message
            throw (New-MirrorException -Code 'RCT_UNAVAILABLE' -Message "Change tracking cannot answer for $($d.BasePath): $msg" -Details @{ BasePath = [string]$d.BasePath; PlatformMessage = $msg })
        }
        [void]$result.Add(@{ BasePath = [string]$d.BasePath; VirtualSizeBytes = $size; Ranges = @($ranges.ToArray()) })
    }
    Write-MirrorResult -Result @{ Disks = @($result.ToArray()) }
} catch {
    Write-MirrorError -ErrorRecord $_
}
