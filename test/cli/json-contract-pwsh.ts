import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { run } from '../../src/util/exec';
import { pwshPath } from '../hypervisor/hyperv/pwsh';

// The PowerShell side of the JSON contract test: real pwsh reads every captured document with
// ConvertFrom-Json (as `vmmirror ... --json | ConvertFrom-Json` would), says what .NET type each value
// became, and validates the text against its generated schema with Test-Json. One pwsh process for
// all documents: a pwsh start costs about a second of CPU.

const JUDGE = String.raw`
param([string]$InputPath)
$ErrorActionPreference = 'Stop'
function Get-ValueKind($Value) {
  if ($null -eq $Value) { return 'null' }
  if ($Value -is [string]) { return 'string' }
  if ($Value -is [datetime]) { return 'date' }
  if ($Value -is [bool]) { return 'boolean' }
  if ($Value -is [int] -or $Value -is [long] -or $Value -is [System.Numerics.BigInteger]) { return 'integer' }
  if ($Value -is [double] -or $Value -is [decimal]) { return 'number' }
  if ($Value -is [array]) { return 'array' }
  if ($Value -is [System.Management.Automation.PSCustomObject]) { return 'object' }
  return $Value.GetType().FullName
}
function Add-ValueReport($Value, [string]$Path, $Out) {
  $kind = Get-ValueKind $Value
  $entry = [ordered]@{ Path = $Path; Kind = $kind }
  if ($kind -eq 'date') { $entry.Utc = $Value.ToUniversalTime().ToString('o') }
  if ($kind -eq 'array') { $entry.Count = $Value.Count }
  if ($kind -eq 'object') { $entry.Names = @($Value.PSObject.Properties | ForEach-Object { $_.Name }) }
  $Out.Add([pscustomobject]$entry)
  if ($kind -eq 'object') {
    foreach ($p in $Value.PSObject.Properties) { Add-ValueReport $p.Value ($Path + '.' + $p.Name) $Out }
  }
  if ($kind -eq 'array') {
    for ($i = 0; $i -lt $Value.Count; $i++) { Add-ValueReport $Value[$i] ($Path + '[' + $i + ']') $Out }
  }
}
$cases = Get-Content -Raw -LiteralPath $InputPath | ConvertFrom-Json
$results = New-Object System.Collections.Generic.List[object]
foreach ($c in $cases) {
  $values = New-Object System.Collections.Generic.List[object]
  $parseError = $null
  try {
    $doc = $c.Text | ConvertFrom-Json
    Add-ValueReport $doc '$' $values
  } catch {
    $parseError = $_.Exception.Message
  }
  $schemaErrors = @()
  $valid = Test-Json -Json $c.Text -SchemaFile $c.SchemaFile -ErrorAction SilentlyContinue -ErrorVariable schemaErrors
  $results.Add([pscustomobject]@{
    Name = $c.Name; ParseError = $parseError; Valid = [bool]$valid
    SchemaErrors = @($schemaErrors | ForEach-Object { $_.ToString() }); Values = $values.ToArray()
  })
}
[pscustomobject]@{ Results = $results.ToArray() } | ConvertTo-Json -Depth 6 -Compress
`;

export const PwshValue = z.object({
  Path: z.string(),
  Kind: z.string(),
  Utc: z.string().optional(),
  Count: z.number().int().optional(),
  Names: z.array(z.string()).optional(),
});
export type PwshValue = z.infer<typeof PwshValue>;

export const PwshVerdict = z.object({
  Name: z.string(),
  ParseError: z.string().nullable(),
  Valid: z.boolean(),
  SchemaErrors: z.array(z.string()),
  Values: z.array(PwshValue),
});
export type PwshVerdict = z.infer<typeof PwshVerdict>;

export interface DocumentToJudge {
  Name: string;
  /** The document exactly as the command printed it (stdout). */
  Text: string;
  SchemaFile: string;
}

/** Runs every document through ConvertFrom-Json and Test-Json in one real pwsh process. */
export async function judgeInPwsh(workDir: string, docs: DocumentToJudge[]): Promise<PwshVerdict[]> {
  const script = join(workDir, 'judge-json.ps1');
  const input = join(workDir, 'documents.json');
  await writeFile(script, JUDGE);
  await writeFile(input, JSON.stringify(docs));
  const r = await run(pwshPath(), ['-NoProfile', '-NonInteractive', '-File', script, '-InputPath', input], { timeoutMs: 110_000 });
  if (r.exitCode !== 0) throw new Error(`pwsh judge exited ${r.exitCode}: ${r.stderr}${r.stdout}`);
  return z.object({ Results: z.array(PwshVerdict) }).parse(JSON.parse(r.stdout)).Results;
}

/**
 * For a test that already has a command's document (e.g. one too long to run twice, like `vmmirror
 * demo`): the same PowerShell reading and schema judgement as test/cli/json-contract.test.ts.
 * Returns the problems found (empty: the document keeps the contract).
 */
export async function powerShellContractProblems(workDir: string, command: string, outcome: 'success' | 'error', stdout: string): Promise<string[]> {
  const { readFile } = require('node:fs/promises') as typeof import('node:fs/promises');
  const { outputSchemaFileName } = require('../../src/cli/output-schemas') as typeof import('../../src/cli/output-schemas');
  const { contractProblems } = require('./json-contract-check') as typeof import('./json-contract-check');
  const schemaFile = join(__dirname, '..', '..', 'docs', 'schema', 'output', outcome === 'error' ? 'error.schema.json' : outputSchemaFileName(command));
  const [verdict] = await judgeInPwsh(workDir, [{ Name: command, Text: stdout, SchemaFile: schemaFile }]);
  return contractProblems(verdict!, stdout, JSON.parse(await readFile(schemaFile, 'utf8')) as Record<string, unknown>);
}
