function Invoke-VmMirrorCli {
    <#
    .SYNOPSIS
        Runs the vmmirror CLI with an argument array and returns its one JSON document as an object, or the error it stands for.
    .DESCRIPTION
        The arguments go to the process as an array (ProcessStartInfo.ArgumentList on PowerShell 7,
        one command line quoted by ConvertTo-VmMirrorCommandLine on 5.1): never through a shell and
        never as PowerShell source, so a hostile module name stays one argument. The caller puts '--'
        before operands, so a name such as '--help' is not read as an option either.
        Returns @{ Document; ErrorRecord; Terminating }: an error document from the CLI gives a
        non-terminating ErrorRecord with its code; a CLI that cannot be run, or that does not answer
        with one JSON document, gives a terminating one. The CLI's stderr (its log) goes to Write-Verbose.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)][string[]]$Arguments,
        [string]$CliPath,
        $TargetObject
    )
    $ErrorActionPreference = 'Stop'
    try {
        $cli = Resolve-VmMirrorCli -CliPath $CliPath
    } catch {
        return @{ Document = $null; ErrorRecord = $_; Terminating = $true }
    }
    $all = @($cli.Prefix) + @($Arguments)
    $psi = New-Object System.Diagnostics.ProcessStartInfo
    $psi.FileName = $cli.FileName
    $psi.UseShellExecute = $false
    $psi.CreateNoWindow = $true
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $utf8 = New-Object System.Text.UTF8Encoding $false
    $psi.StandardOutputEncoding = $utf8
    $psi.StandardErrorEncoding = $utf8
    # PowerShell's location is not the process's working folder: relative paths in the CLI's own
    # output (and its defaults) should mean what they mean at the prompt.
    $psi.WorkingDirectory = (Get-Location -PSProvider FileSystem).ProviderPath
    $hasArgumentList = $null -ne $psi.PSObject.Properties['ArgumentList']
    if ($hasArgumentList -and -not $script:VmMirrorUseCommandLine) {
        foreach ($a in $all) { $psi.ArgumentList.Add($a) }
    } else {
        $psi.Arguments = ConvertTo-VmMirrorCommandLine -Arguments $all
    }
    try {
        $process = [System.Diagnostics.Process]::Start($psi)
    } catch {
        $record = New-VmMirrorErrorRecord -Code 'FILE_NOT_FOUND' -Message "cannot start the vmmirror CLI '$($cli.FileName)': $($_.Exception.Message)" -TargetObject $TargetObject
        return @{ Document = $null; ErrorRecord = $record; Terminating = $true }
    }
    try {
        $process.StandardInput.Close()
        # stderr is drained on its own task so a chatty log cannot fill the pipe and stall stdout.
        $stderrTask = $process.StandardError.ReadToEndAsync()
        $stdout = $process.StandardOutput.ReadToEnd()
        $process.WaitForExit()
        $stderr = $stderrTask.Result
        $exitCode = $process.ExitCode
    } finally {
        $process.Dispose()
    }
    foreach ($line in @($stderr -split "`r?`n")) { if ($line.Length -gt 0) { Write-Verbose "vmmirror: $line" } }

    $document = $null
    $text = $stdout.Trim()
    if ($text.StartsWith('{')) {
        try { $document = ConvertFrom-VmMirrorJson -Json $text } catch { $document = $null }
    }
    if ($null -eq $document -or $document -isnot [System.Management.Automation.PSCustomObject]) {
        $tail = @($stderr -split "`r?`n" | Where-Object { $_.Length -gt 0 } | Select-Object -Last 5) -join ' | '
        $record = New-VmMirrorErrorRecord -Code 'CLI_OUTPUT_INVALID' -ExitCode $exitCode -TargetObject $TargetObject `
            -Message "the vmmirror CLI (exit $exitCode) did not print one JSON document on stdout (stdout: '$(Format-VmMirrorSnippet $text)'; stderr: '$(Format-VmMirrorSnippet $tail)')"
        return @{ Document = $null; ErrorRecord = $record; Terminating = $true }
    }
    $errorProperty = $document.PSObject.Properties['Error']
    if ($null -ne $errorProperty -and $null -ne $errorProperty.Value -and $null -ne $errorProperty.Value.PSObject.Properties['Code']) {
        $e = $errorProperty.Value
        $details = $null
        if ($null -ne $e.PSObject.Properties['Details']) { $details = $e.Details }
        $record = New-VmMirrorErrorRecord -Code ([string]$e.Code) -Message ([string]$e.Message) -Details $details -ExitCode $exitCode -TargetObject $TargetObject
        return @{ Document = $null; ErrorRecord = $record; Terminating = $false }
    }
    @{ Document = $document; ErrorRecord = $null; Terminating = $false }
}

function Format-VmMirrorSnippet {
    <#
    .SYNOPSIS
        The first 300 characters of a text, for an error message.
    #>
    [CmdletBinding()]
    param([AllowEmptyString()][string]$Text)
    if ($Text.Length -le 300) { return $Text }
    $Text.Substring(0, 300) + '...'
}
