function New-VmMirrorErrorRecord {
    <#
    .SYNOPSIS
        An ErrorRecord whose ErrorId is the stable vmmirror code (docs/errors.md).
    .DESCRIPTION
        Written by a cmdlet, the FullyQualifiedErrorId becomes "<CODE>,<cmdlet name>", e.g.
        MODULE_NOT_FOUND,Invoke-VmMirrorFailover. The exception's Data holds Code, Details and the
        CLI's exit code, so scripts can branch on the code, never on the text.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)][string]$Code,
        [Parameter(Mandatory = $true)][string]$Message,
        $TargetObject,
        $Details,
        $ExitCode
    )
    $exception = New-Object System.Exception $Message
    $exception.Data['Code'] = $Code
    $exception.Data['Details'] = $Details
    $exception.Data['ExitCode'] = $ExitCode
    $category = Get-VmMirrorErrorCategory -Code $Code -ExitCode $ExitCode
    New-Object System.Management.Automation.ErrorRecord($exception, $Code, $category, $TargetObject)
}

function Get-VmMirrorErrorCategory {
    <#
    .SYNOPSIS
        The PowerShell ErrorCategory of a vmmirror code; a code this module does not know yet gets the category of its exit class.
    #>
    [CmdletBinding()]
    param([string]$Code, $ExitCode)
    $byCode = @{
        USAGE = 'InvalidArgument'; MODULE_NOT_FOUND = 'ObjectNotFound'; VM_NOT_FOUND = 'ObjectNotFound'
        FILE_NOT_FOUND = 'ObjectNotFound'; CONFIG_NOT_FOUND = 'ObjectNotFound'; VM_NOT_REGISTERED = 'ObjectNotFound'
        MODULE_NOT_PRIMARY = 'InvalidOperation'; MODULE_NOT_SECONDARY = 'InvalidOperation'; VM_WRONG_STATE = 'InvalidOperation'
        STALE_EPOCH = 'InvalidOperation'; SWITCHOVER_REFUSED = 'InvalidOperation'; VM_AMBIGUOUS = 'InvalidArgument'; IDENTITY_EXISTS = 'ResourceExists'
        VM_ALREADY_REGISTERED = 'ResourceExists'; LAB_DIR_NOT_EMPTY = 'ResourceExists'
        AGENT_UNREACHABLE = 'ConnectionError'; PEER_UNREACHABLE = 'ConnectionError'; PEER_PROTOCOL = 'ProtocolError'
        PS_PROTOCOL = 'ProtocolError'; CLI_OUTPUT_INVALID = 'ProtocolError'
        AGENT_UNAUTHORIZED = 'PermissionDenied'; PEER_REFUSED = 'PermissionDenied'; EXECUTION_POLICY = 'SecurityError'
        PEER_TIMEOUT = 'OperationTimeout'; VM_TIMEOUT = 'OperationTimeout'; PS_TIMEOUT = 'OperationTimeout'; CYCLE_TIMEOUT = 'OperationTimeout'
        HANDOVER_FAILED = 'OperationStopped'; CANCELLED = 'OperationStopped'; FAILBACK_DAMPED = 'ResourceBusy'
        REPLICA_LOCKED = 'ResourceBusy'; DISK_FULL = 'WriteError'; IO_ERROR = 'WriteError'; REPLICA_UNSAFE_PATH = 'SecurityError'
        VM_INCOMPATIBLE = 'InvalidType'; INTERNAL = 'NotSpecified'
    }
    # The exit classes of src/errors.ts (ExitCodes), for codes added after this table.
    $byExit = @{ 2 = 'InvalidArgument'; 3 = 'InvalidData'; 4 = 'InvalidData'; 5 = 'WriteError'; 6 = 'DeviceError'; 7 = 'ConnectionError' }
    $name = 'NotSpecified'
    if ($byCode.ContainsKey($Code)) { $name = $byCode[$Code] }
    elseif ($Code -match '_INVALID$') { $name = 'InvalidData' }
    elseif ($null -ne $ExitCode -and $byExit.ContainsKey([int]$ExitCode)) { $name = $byExit[[int]$ExitCode] }
    [System.Management.Automation.ErrorCategory]$name
}
