# A stand-in for VMware PowerCLI (module VMware.VimAutomation.Core), which exports functions with
# Hyper-V's cmdlet names. Imported AFTER the Hyper-V module, it wins every bare-name lookup (Get-VM
# resolves to the most recently imported command), which is what broke Vagrant and Packer on hosts
# with both installed. ps/ must call Hyper-V\Get-VM, so nothing here may ever run: every call is
# logged to $env:VMMIRROR_SHADOW_LOG (a throw alone can be swallowed by -ErrorAction
# SilentlyContinue) and then throws.
$ErrorActionPreference = 'Stop'
# PowerCLI's names that collide with Hyper-V's, plus every other Hyper-V cmdlet ps/ calls, so the
# test proves the qualification of each call, not only of the ones PowerCLI happens to share.
$script:ShadowNames = @(
    'Get-VM', 'New-VM', 'Set-VM', 'Remove-VM', 'Start-VM', 'Stop-VM', 'Restart-VM', 'Suspend-VM', 'Move-VM',
    'Get-VMHost', 'Set-VMHost', 'Get-VMHostNetworkAdapter', 'Export-VM', 'Import-VM',
    'Compare-VM', 'Get-VHD', 'Get-VMHardDiskDrive', 'Set-VMHardDiskDrive', 'Get-VMNetworkAdapter',
    'Set-VMNetworkAdapter', 'Get-VMSwitch', 'Get-VMHostSupportedVersion', 'Checkpoint-VM', 'Get-VMSnapshot',
    'Remove-VMSnapshot'
)
foreach ($shadowName in $script:ShadowNames) {
    Set-Item -Path "function:script:$shadowName" -Value {
        $name = $MyInvocation.MyCommand.Name
        if ($env:VMMIRROR_SHADOW_LOG) { Add-Content -LiteralPath $env:VMMIRROR_SHADOW_LOG -Value $name }
        throw "ShadowedCommand: the PowerCLI stand-in's $name ran instead of Hyper-V\$name"
    }
}
Export-ModuleMember -Function $script:ShadowNames
