# The mock's state: one JSON file { Tasks: { "<path><name>": task }, Calls: [ { Cmdlet, Parameters } ] }.
# Registered tasks are stored as plain data (each CIM-like object as { CimClassName, ...properties })
# and rebuilt into fresh objects on every read, so nothing a caller does to a returned object changes
# what is registered (as with the real service).
$script:MockTaskStorePath = $env:MOCK_SCHEDULEDTASKS_STATE

function Set-MockScheduledTaskStore {
    # Points the mock at a state file (created on the first write).
    param([Parameter(Mandatory = $true)][string]$Path)
    $script:MockTaskStorePath = $Path
}

function Get-MockTaskStoreFile {
    if (-not $script:MockTaskStorePath) {
        throw 'MockScheduledTasks: no state file (set MOCK_SCHEDULEDTASKS_STATE or call Set-MockScheduledTaskStore)'
    }
    $script:MockTaskStorePath
}

function Read-MockTaskStore {
    $file = Get-MockTaskStoreFile
    if (-not (Test-Path -LiteralPath $file)) { return @{ Tasks = @{}; Calls = @() } }
    # -DateKind String: a StartBoundary must come back as the text that was stored, not a DateTime.
    $s = [IO.File]::ReadAllText($file) | ConvertFrom-Json -AsHashtable -DateKind String
    if ($null -eq $s.Tasks) { $s.Tasks = @{} }
    if ($null -eq $s.Calls) { $s.Calls = @() }
    $s
}

function Save-MockTaskStore {
    param([Parameter(Mandatory = $true)]$Store)
    $file = Get-MockTaskStoreFile
    $tmp = "$file.tmp"
    [IO.File]::WriteAllText($tmp, (ConvertTo-Json -InputObject $Store -Depth 20))
    Move-Item -LiteralPath $tmp -Destination $file -Force
}

function Add-MockTaskCall {
    # Records one call of a cmdlet that changes something (its name and the names of the parameters bound, common ones left out).
    param([Parameter(Mandatory = $true)][string]$Cmdlet, [Parameter(Mandatory = $true)][hashtable]$Bound)
    $common = @('Verbose', 'Debug', 'ErrorAction', 'WarningAction', 'InformationAction', 'ProgressAction', 'ErrorVariable',
        'WarningVariable', 'InformationVariable', 'OutVariable', 'OutBuffer', 'PipelineVariable')
    if (-not $script:MockTaskStorePath) { return }
    $s = Read-MockTaskStore
    $names = @($Bound.Keys | Where-Object { $common -notcontains $_ } | Sort-Object)
    $s.Calls = @($s.Calls) + @(@{ Cmdlet = $Cmdlet; Parameters = $names })
    Save-MockTaskStore -Store $s
}

function New-MockCimObject {
    # An object shaped like a CimInstance of the ScheduledTasks classes: the properties, a
    # CimClass.CimClassName, and the CimInstance type name (so formatting and -is checks look alike).
    param([Parameter(Mandatory = $true)][string]$ClassName, [Parameter(Mandatory = $true)][System.Collections.IDictionary]$Properties)
    $o = New-Object PSObject
    foreach ($k in $Properties.Keys) { Add-Member -InputObject $o -NotePropertyName $k -NotePropertyValue $Properties[$k] }
    Add-Member -InputObject $o -NotePropertyName CimClass -NotePropertyValue ([pscustomobject]@{ CimClassName = $ClassName; CimClassNamespace = 'Root/Microsoft/Windows/TaskScheduler' })
    $o.PSObject.TypeNames.Insert(0, "Microsoft.Management.Infrastructure.CimInstance#Root/Microsoft/Windows/TaskScheduler/$ClassName")
    $o
}

function ConvertTo-MockTaskData {
    # A CIM-like object (or array of them) as plain data for the state file.
    param([AllowNull()]$Value)
    if ($null -eq $Value) { return $null }
    if ($Value -is [array]) { return , @($Value | ForEach-Object { ConvertTo-MockTaskData -Value $_ }) }
    if ($null -ne $Value.PSObject -and $null -ne $Value.PSObject.Properties['CimClass']) {
        $h = [ordered]@{ CimClassName = [string]$Value.CimClass.CimClassName }
        foreach ($p in $Value.PSObject.Properties) {
            if ($p.Name -eq 'CimClass') { continue }
            $h[$p.Name] = ConvertTo-MockTaskData -Value $p.Value
        }
        return $h
    }
    $Value
}

function ConvertFrom-MockTaskData {
    # Plain data from the state file back into CIM-like objects.
    param([AllowNull()]$Value)
    if ($null -eq $Value) { return $null }
    if ($Value -is [array] -or $Value -is [System.Collections.IList]) { return , @($Value | ForEach-Object { ConvertFrom-MockTaskData -Value $_ }) }
    if ($Value -is [System.Collections.IDictionary] -and $Value.Contains('CimClassName')) {
        $props = [ordered]@{}
        foreach ($k in $Value.Keys) { if ($k -ne 'CimClassName') { $props[$k] = ConvertFrom-MockTaskData -Value $Value[$k] } }
        return New-MockCimObject -ClassName ([string]$Value.CimClassName) -Properties $props
    }
    $Value
}

function ConvertTo-MockDuration {
    # A TimeSpan as the Task Scheduler schema's xs:duration text ('PT1M', 'PT0S'), as the CDXML
    # cmdlets store it; $null stays $null (the property is then absent from the task XML).
    param([AllowNull()]$TimeSpan)
    if ($null -eq $TimeSpan) { return $null }
    [System.Xml.XmlConvert]::ToString([TimeSpan]$TimeSpan)
}

function Get-MockTaskRecord {
    # Test helper: the state file's content (what was registered, and every call).
    Read-MockTaskStore
}

function Set-MockTaskRunState {
    # Test helper: marks a registered task Running or Ready (as if an instance were running or not).
    param([Parameter(Mandatory = $true)][string]$TaskPath, [Parameter(Mandatory = $true)][string]$TaskName,
          [Parameter(Mandatory = $true)][ValidateSet('Ready', 'Running', 'Disabled')][string]$State)
    $s = Read-MockTaskStore
    $key = "$TaskPath$TaskName"
    if (-not $s.Tasks.ContainsKey($key)) { throw "MockScheduledTasks: no task $key" }
    $s.Tasks[$key].State = $State
    Save-MockTaskStore -Store $s
}
