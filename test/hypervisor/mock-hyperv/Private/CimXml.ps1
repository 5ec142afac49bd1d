# The judge of embedded-instance arguments (CIM-XML, DTD 2.0, the text WMI's GetText(1) writes and
# the CimSerializer produces). vmmirror builds that text by hand (ConvertTo-MirrorCimXml) and no real
# WMI can read it here, so this parser is as strict as the provider's would be: a real XML parser
# (no DTD, no entities from outside), the DTD's element and attribute shape (names case-sensitive,
# as in XML), and every property checked against the class (Private/CimClasses.ps1): known name,
# the class's CIM type, a value that parses as that type. Anything else is refused, and the method
# answers as Hyper-V does to a bad argument: ReturnValue 32773 (Invalid parameter), the reason kept
# in Host.EmbeddedInstanceRefusals.

function Get-MockCimValue {
    # One VALUE's text as the CIM type says, or a refusal: decimal integers in range (as GetText(1)
    # writes them), booleans TRUE/FALSE in any case (DSP0201), char16 one character, datetime in
    # the DMTF form (yyyymmddHHMMSS.mmmmmm+UUU, or an interval ending ':000').
    param([string]$Type, [string]$Text, [string]$Property)
    $bits = @{ uint8 = 8; uint16 = 16; uint32 = 32; uint64 = 64; sint8 = 8; sint16 = 16; sint32 = 32; sint64 = 64 }
    if ($bits.ContainsKey($Type)) {
        $signed = $Type.StartsWith('s')
        $pattern = '^[0-9]+\z'; if ($signed) { $pattern = '^[+-]?[0-9]+\z' }
        if ($Text -notmatch $pattern) { throw "property $Property ($Type): '$Text' is not an integer" }
        # decimal holds every 64-bit value; a longer number does not parse and is out of range too.
        $n = [decimal]0
        $fits = [decimal]::TryParse($Text, [Globalization.NumberStyles]::AllowLeadingSign, [Globalization.CultureInfo]::InvariantCulture, [ref]$n)
        $span = [decimal]1; for ($i = 0; $i -lt $bits[$Type]; $i++) { $span = $span * 2 }
        $max = $span - 1; $min = [decimal]0
        if ($signed) { $max = $span / 2 - 1; $min = -1 - $max }
        if (-not $fits -or $n -gt $max -or $n -lt $min) { throw "property $Property ($Type): $Text is out of range ($min..$max)" }
        $net = @{ uint8 = [byte]; uint16 = [uint16]; uint32 = [uint32]; uint64 = [uint64]; sint8 = [sbyte]; sint16 = [int16]; sint32 = [int32]; sint64 = [int64] }
        return ($net[$Type])::Parse($Text, [Globalization.CultureInfo]::InvariantCulture)
    }
    switch ($Type) {
        'boolean' {
            if ([string]::Equals($Text, 'true', [StringComparison]::OrdinalIgnoreCase)) { return $true }
            if ([string]::Equals($Text, 'false', [StringComparison]::OrdinalIgnoreCase)) { return $false }
            throw "property $Property (boolean): '$Text' is not TRUE or FALSE"
        }
        'string' { return $Text }
        'char16' { if ($Text.Length -ne 1) { throw "property $Property (char16): '$Text' is not one character" }; return $Text }
        'datetime' {
            if ($Text -notmatch '^\d{14}\.\d{6}([+-]\d{3}|:000)\z') { throw "property $Property (datetime): '$Text' is not a DMTF datetime" }
            return $Text
        }
        default {
            $d = 0.0
            if (-not [double]::TryParse($Text, [Globalization.NumberStyles]::Float, [Globalization.CultureInfo]::InvariantCulture, [ref]$d)) { throw "property $Property ($Type): '$Text' is not a number" }
            return $d
        }
    }
}

function Assert-MockXmlShape {
    # The element has only the attributes the DTD gives it, and no text outside VALUE.
    param([System.Xml.XmlElement]$Element, [string[]]$Allowed)
    foreach ($a in @($Element.get_Attributes())) {
        if ($Allowed -cnotcontains $a.get_Name()) { throw "<$($Element.get_Name())> has an attribute the DTD does not define: $($a.get_Name())" }
    }
    foreach ($c in @($Element.get_ChildNodes())) {
        if ($c.get_NodeType() -eq [System.Xml.XmlNodeType]::Element) { continue }
        if (@([System.Xml.XmlNodeType]::Whitespace, [System.Xml.XmlNodeType]::SignificantWhitespace) -contains $c.get_NodeType()) { continue }
        throw "<$($Element.get_Name())> holds text or a node the DTD does not allow ($($c.get_NodeType()))"
    }
}

function Get-MockValueText {
    # The text of a <VALUE>: character data only (an element inside is not DTD 2.0).
    param([System.Xml.XmlElement]$Value)
    if ($Value.get_Attributes().Count -gt 0) { throw '<VALUE> takes no attributes' }
    foreach ($c in @($Value.get_ChildNodes())) {
        if (@([System.Xml.XmlNodeType]::Text, [System.Xml.XmlNodeType]::CDATA, [System.Xml.XmlNodeType]::Whitespace, [System.Xml.XmlNodeType]::SignificantWhitespace) -notcontains $c.get_NodeType()) {
            throw "<VALUE> holds a $($c.get_NodeType()), not text"
        }
    }
    $Value.get_InnerText()
}

function Read-MockXmlDocument {
    # A real XML parse, with DTDs refused (an embedded instance has none, and nothing from outside is read).
    param([string]$Text)
    $settings = New-Object System.Xml.XmlReaderSettings
    $settings.DtdProcessing = [System.Xml.DtdProcessing]::Prohibit
    $settings.XmlResolver = $null
    $settings.IgnoreComments = $true
    $doc = New-Object System.Xml.XmlDocument
    $doc.PreserveWhitespace = $true
    $reader = [System.Xml.XmlReader]::Create((New-Object System.IO.StringReader($Text)), $settings)
    try { $doc.Load($reader) } catch {
        $e = $_.Exception; if ($e.InnerException) { $e = $e.InnerException }
        throw "malformed XML: $($e.Message)"
    } finally { $reader.Dispose() }
    ,$doc
}

function ConvertFrom-MockEmbeddedInstance {
    # The properties of an embedded instance of $ClassName, typed (@{ <class's spelling> = value };
    # $null for a property sent without VALUE); throws the reason when WMI would refuse the text.
    param([Parameter(Mandatory = $true)][AllowEmptyString()][string]$Text, [Parameter(Mandatory = $true)][string]$ClassName)
    if (-not $script:MockCimClasses.ContainsKey($ClassName)) { throw "MockHyperV knows no class $ClassName" }
    $root = (Read-MockXmlDocument $Text).get_DocumentElement()
    if ($root.get_Name() -cne 'INSTANCE') { throw "the root element is <$($root.get_Name())>, not <INSTANCE>" }
    Assert-MockXmlShape $root @('CLASSNAME', 'xml:lang')
    $cls = $root.GetAttribute('CLASSNAME')
    if (-not [string]::Equals($cls, $ClassName, [StringComparison]::OrdinalIgnoreCase)) { throw "CLASSNAME '$cls' is not $ClassName" }
    $props = @{}
    foreach ($el in @($root.get_ChildNodes() | Where-Object { $_.get_NodeType() -eq [System.Xml.XmlNodeType]::Element })) {
        if ($el.get_Name() -ceq 'QUALIFIER') { continue }
        if (@('PROPERTY', 'PROPERTY.ARRAY') -cnotcontains $el.get_Name()) { throw "<INSTANCE> holds <$($el.get_Name())>, which $ClassName's properties cannot be" }
        $isArray = $el.get_Name() -ceq 'PROPERTY.ARRAY'
        $allowed = @('NAME', 'TYPE', 'CLASSORIGIN', 'PROPAGATED', 'EmbeddedObject', 'xml:lang'); if ($isArray) { $allowed += 'ARRAYSIZE' }
        Assert-MockXmlShape $el $allowed
        $name = $el.GetAttribute('NAME'); $type = $el.GetAttribute('TYPE')
        if (-not $name) { throw "<$($el.get_Name())> has no NAME" }
        if ($script:MockCimTypeNames -cnotcontains $type) { throw "property ${name}: TYPE '$type' is not a CIM type" }
        $def = Get-MockCimClassProperty -ClassName $ClassName -Name $name
        if ($null -eq $def) { throw "property ${name}: $ClassName has no such property" }
        if ($props.ContainsKey($def.Name)) { throw "property $($def.Name) is given twice" }
        if ($def.Type -cne $type -or $def.IsArray -ne $isArray) {
            $want = $def.Type; if ($def.IsArray) { $want += '[]' }
            $got = $type; if ($isArray) { $got += '[]' }
            throw "property $($def.Name): TYPE $got, but $ClassName declares $want"
        }
        $kids = @($el.get_ChildNodes() | Where-Object { $_.get_NodeType() -eq [System.Xml.XmlNodeType]::Element -and $_.get_Name() -cne 'QUALIFIER' })
        $valueTag = 'VALUE'; if ($isArray) { $valueTag = 'VALUE.ARRAY' }
        if ($kids.Count -gt 1 -or ($kids.Count -eq 1 -and $kids[0].get_Name() -cne $valueTag)) { throw "property $($def.Name): <$($el.get_Name())> takes one optional <$valueTag>" }
        $value = $null
        if ($kids.Count -eq 1 -and -not $isArray) { $value = Get-MockCimValue $type (Get-MockValueText $kids[0]) $def.Name }
        if ($kids.Count -eq 1 -and $isArray) {
            Assert-MockXmlShape $kids[0] @()
            $list = New-Object System.Collections.ArrayList
            foreach ($v in @($kids[0].get_ChildNodes() | Where-Object { $_.get_NodeType() -eq [System.Xml.XmlNodeType]::Element })) {
                if ($v.get_Name() -ceq 'VALUE.NULL') { [void]$list.Add($null); continue }
                if ($v.get_Name() -cne 'VALUE') { throw "property $($def.Name): <VALUE.ARRAY> holds <$($v.get_Name())>" }
                [void]$list.Add((Get-MockCimValue $type (Get-MockValueText $v) $def.Name))
            }
            $value = $list.ToArray()
        }
        $props[$def.Name] = $value
    }
    $props
}

function Test-MockEmbeddedArgument {
    # An embedded-instance argument of a method, judged: its properties, or $null after recording why
    # it was refused (the caller then answers 32773 as Hyper-V does).
    param([AllowEmptyString()][string]$Text, [string]$ClassName, [string]$Method, [string]$Parameter)
    try {
        return (ConvertFrom-MockEmbeddedInstance -Text $Text -ClassName $ClassName)
    } catch {
        $state = Read-MockState
        $state.Host.EmbeddedInstanceRefusals = @(@($state.Host.EmbeddedInstanceRefusals) | Where-Object { $null -ne $_ }) + @(@{ Method = $Method; Parameter = $Parameter; Reason = [string]$_.Exception.Message })
        Save-MockState $state
        return $null
    }
}
