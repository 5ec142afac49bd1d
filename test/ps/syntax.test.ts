import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { run } from '../../src/util/exec';
import { psDir, pwshPath } from '../hypervisor/hyperv/pwsh';
import { tempDir } from '../helpers/tmp';

// Every script under ps/ must parse on Windows PowerShell 5.1 (the production target) and driver
// scripts must follow docs/ps-contract.md. The checker walks PowerShell's own AST (pwsh 7 parses
// the 7-only syntax, so it can be found and rejected).

const checker = join(__dirname, 'Find-PsIncompatibility.ps1');
const Report = z.object({
  Files: z.array(z.string()),
  Findings: z.array(z.object({ File: z.string(), Line: z.number(), Rule: z.string(), Text: z.string() })),
});
type Report = z.infer<typeof Report>;

async function check(root: string): Promise<Report> {
  const r = await run(pwshPath(), ['-NoProfile', '-NonInteractive', '-File', checker, '-Root', root], { timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new Error(`checker failed (${r.exitCode}): ${r.stderr}`);
  return Report.parse(JSON.parse(r.stdout));
}

const good = `<#
.SYNOPSIS
    A well-formed driver script.
#>
[CmdletBinding()]
param([Parameter(Mandatory = $true)][string]$InputBase64)
$ErrorActionPreference = 'Stop'
try { Write-Output (ConvertTo-Json -InputObject @{ Ok = $true } -Depth 10 -Compress) } catch { Write-Output 'x' }
`;

const bad: Record<string, { code: string; rule: RegExp }> = {
  'ternary.ps1': { code: '$a = $true ? 1 : 2', rule: /^Ternary$/ },
  'coalesce.ps1': { code: '$a = $null ?? 1', rule: /^NullCoalescing$/ },
  'coalesce-assign.ps1': { code: '$a ??= 1', rule: /^NullCoalescingAssignment$/ },
  'null-member.ps1': { code: '$b = ${a}?.Length', rule: /^NullConditional$/ },
  'null-index.ps1': { code: '$b = ${a}?[0]', rule: /^NullConditional$/ },
  'chain-and.ps1': { code: 'Get-Date && Get-Date', rule: /^PipelineChain$/ },
  'chain-or.ps1': { code: 'Get-Date || Get-Date', rule: /^PipelineChain$/ },
  'hashtable.ps1': { code: "$h = '{}' | ConvertFrom-Json -AsHashtable", rule: /^Ps7Parameter: ConvertFrom-Json -AsHashtable$/ },
  'parallel.ps1': { code: '1..3 | ForEach-Object -Parallel { $_ }', rule: /^Ps7Parameter: ForEach-Object -Parallel$/ },
  'parallel-alias.ps1': { code: '1..3 | % -Parallel { $_ }', rule: /^Ps7Parameter: ForEach-Object -Parallel$/ },
  'clean.ps1': { code: 'function f { process { 1 } clean { 2 } }', rule: /^CleanBlock$/ },
  'join-string.ps1': { code: '1..3 | Join-String', rule: /^Ps7Command: Join-String$/ },
  'enums-as-strings.ps1': { code: 'ConvertTo-Json -InputObject 1 -Depth 2 -EnumsAsStrings', rule: /^Ps7Parameter: ConvertTo-Json -EnumsAsStrings$/ },
  'no-depth.ps1': { code: 'ConvertTo-Json -InputObject @{ a = 1 }', rule: /^JsonDepthMissing$/ },
  'parse-error.ps1': { code: 'if ( {', rule: /^ParseError/ },
  'Fetch-MirrorThing.ps1': { code: good, rule: /^UnapprovedVerb: Fetch$/ },
  'Get-MirrorNoHelp.ps1': { code: good.replace(/<#[\s\S]*?#>/, ''), rule: /^HelpMissing$/ },
  'Get-MirrorTwoParams.ps1': { code: good.replace('[string]$InputBase64)', '[string]$InputBase64, [string]$Name)'), rule: /^InputBase64ParameterMissing$/ },
  'Get-MirrorOptional.ps1': { code: good.replace('Mandatory = $true', 'Mandatory = $false'), rule: /^InputBase64ParameterMissing$/ },
  'Get-MirrorNoStop.ps1': { code: good.replace("$ErrorActionPreference = 'Stop'", "$ErrorActionPreference = 'Continue'"), rule: /^ErrorActionPreferenceStopMissing$/ },
  'Get-MirrorNoTry.ps1': { code: good.replace(/try \{ (.*) \} catch \{ .* \}/, '$1'), rule: /^BodyNotInOneTry$/ },
  'Get-MirrorNoBinding.ps1': { code: good.replace('[CmdletBinding()]\n', ''), rule: /^CmdletBindingMissing$/ },
};

describe('ps/ (Windows PowerShell 5.1 syntax and script contract)', function () {
  this.timeout(120_000);

  it('finds nothing that Windows PowerShell 5.1 lacks in any ps/ script, and every driver script keeps the contract', async () => {
    const report = await check(psDir);
    expect(report.Files.filter((f) => /-Mirror.*\.ps1$/.test(f)).length).to.be.at.least(12);
    expect(report.Findings, JSON.stringify(report.Findings, null, 2)).to.deep.equal([]);
  });

  it('checks the PowerShell module ps/VmMirror too (psm1 and every cmdlet file), finding nothing', async () => {
    const moduleDir = join(psDir, 'VmMirror');
    const report = await check(moduleDir);
    const names = report.Files.map((f) => f.slice(moduleDir.length + 1));
    expect(names).to.include.members(['VmMirror.psm1', 'Public/Invoke-VmMirrorFailover.ps1', 'Public/Get-VmMirrorStatus.ps1', 'Private/Invoke-VmMirrorCli.ps1']);
    expect(names.filter((n) => n.startsWith('Public/')).length).to.equal(8);
    expect(report.Findings, JSON.stringify(report.Findings, null, 2)).to.deep.equal([]);
  });

  it('flags each kind of 7-only syntax and each contract breach in a planted script', async () => {
    const tmp = await tempDir('vmmirror-pscheck-');
    try {
      for (const [name, b] of Object.entries(bad)) await writeFile(join(tmp.dir, name), b.code);
      await writeFile(join(tmp.dir, 'Get-MirrorGood.ps1'), good);
      const report = await check(tmp.dir);
      for (const [name, b] of Object.entries(bad)) {
        const rules = report.Findings.filter((f) => f.File.endsWith(`/${name}`)).map((f) => f.Rule);
        expect(rules.some((r) => b.rule.test(r)), `${name}: ${JSON.stringify(rules)}`).to.equal(true);
      }
      expect(report.Findings.filter((f) => f.File.endsWith('/Get-MirrorGood.ps1'))).to.deep.equal([]);
    } finally {
      await tmp.cleanup();
    }
  });
});
