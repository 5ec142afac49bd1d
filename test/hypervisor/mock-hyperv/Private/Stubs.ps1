# Every Hyper-V (and CIM) cmdlet the mock does not implement throws, so a script that calls
# something unmocked fails loudly instead of silently doing nothing.
$script:MockStubNames = @(
    'Add-VMDvdDrive', 'Add-VMHardDiskDrive', 'Add-VMNetworkAdapter', 'Add-VMScsiController', 'Checkpoint-VM',
    'Complete-VMFailover', 'Connect-VMNetworkAdapter', 'Convert-VHD', 'Disable-VMIntegrationService',
    'Disconnect-VMNetworkAdapter', 'Dismount-VHD', 'Enable-VMIntegrationService', 'Enable-VMReplication',
    'Enable-VMTPM', 'Export-VM', 'Export-VMSnapshot', 'Get-VMDvdDrive', 'Get-VMFirmware', 'Get-VMIntegrationService',
    'Get-VMKeyProtector', 'Get-VMMemory', 'Get-VMNetworkAdapterVlan', 'Get-VMProcessor', 'Get-VMReplication',
    'Get-VMScsiController', 'Measure-VM', 'Merge-VHD', 'Mount-VHD', 'Move-VM', 'New-VHD', 'New-VM', 'New-VMSwitch',
    'Optimize-VHD', 'Remove-VM', 'Remove-VMHardDiskDrive', 'Remove-VMNetworkAdapter', 'Remove-VMSnapshot',
    'Remove-VMSwitch', 'Rename-VM', 'Resize-VHD', 'Restart-VM', 'Restore-VMSnapshot',
    'Resume-VM', 'Save-VM', 'Set-VHD', 'Set-VM', 'Set-VMFirmware', 'Set-VMHost', 'Set-VMMemory',
    'Set-VMNetworkAdapterVlan', 'Set-VMProcessor', 'Set-VMSwitch', 'Start-VMFailover', 'Stop-VMReplication',
    'Suspend-VM', 'Test-VHD', 'Test-VMReplicationConnection', 'Update-VMVersion',
    'New-CimInstance', 'Get-CimClass', 'New-CimSession', 'Remove-CimInstance', 'Set-CimInstance',
    'Get-WmiObject', 'Invoke-WmiMethod'
)
foreach ($stubName in $script:MockStubNames) {
    Set-Item -Path "function:script:$stubName" -Value { throw "StubNotImplemented: $($MyInvocation.MyCommand.Name) is not mocked by MockHyperV" }
}
