function ConvertTo-VmMirrorSwitchover {
    <#
    .SYNOPSIS
        Types a switchover document (vmmirror failover/failback --json): VmMirror.Switchover, its Checks VmMirror.SwitchoverCheck, its Result VmMirror.SwitchoverResult.
    #>
    [CmdletBinding()]
    param([AllowNull()]$Document)
    if ($null -eq $Document) { return }
    # Property lookups, not $Document.Checks: under strict mode a document without them must not throw.
    if ($null -ne $Document.PSObject.Properties['Checks']) {
        foreach ($c in @($Document.Checks)) { [void](Add-VmMirrorTypeName -TypeName 'VmMirror.SwitchoverCheck' -InputObject $c) }
    }
    if ($null -ne $Document.PSObject.Properties['Result'] -and $null -ne $Document.Result) {
        [void](Add-VmMirrorTypeName -TypeName 'VmMirror.SwitchoverResult' -InputObject $Document.Result)
    }
    $Document
}
