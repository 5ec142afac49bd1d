import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { z } from 'zod';
import { run } from '../../../src/util/exec';
import { seeded } from '../../helpers/seed';
import { tempDir } from '../../helpers/tmp';
import { psDir, pwshPath, repoRoot } from './pwsh';
import { defaultFixturePath, extractSignatures } from './signatures/extract';

// Issue 7 item 22 (a): every Hyper-V cmdlet call in ps/ binds against the real module 2.0.0.0's
// signatures (test/hypervisor/hyperv-signatures.json): no unknown parameter, some single parameter
// set takes all of them, splats resolved from the hashtables they are built from.

const checker = join(repoRoot, 'test', 'ps', 'Find-HyperVCallMismatch.ps1');
// shared/ sits beside the checkout (on a developer's machine and in CI alike).
const reference = join(repoRoot, '..', 'shared', 'reference', 'hyperv-module-2.0.json');

const Finding = z.object({ File: z.string(), Line: z.number(), Command: z.string(), Rule: z.string(), Detail: z.string(), Text: z.string() });
const Report = z.object({ Files: z.array(z.string()), Calls: z.number(), Findings: z.array(Finding) });
type Report = z.infer<typeof Report>;

const Signatures = z.object({
  Cmdlets: z.record(z.string(), 
    z.object({
      Parameters: z.record(z.string(), z.object({ Type: z.string(), Sets: z.record(z.string(), z.object({ Mandatory: z.boolean() })) })),
    }),
  ),
});

async function check(root: string): Promise<Report> {
  const r = await run(pwshPath(), ['-NoProfile', '-NonInteractive', '-File', checker, '-SignaturesPath', defaultFixturePath, '-Root', root], {
    timeoutMs: 60_000,
  });
  if (r.exitCode !== 0) throw new Error(`checker failed (${r.exitCode}): ${r.stderr}`);
  return Report.parse(JSON.parse(r.stdout));
}

/** Checks one script text; returns its findings as "Rule Command Detail" lines. */
async function findingsFor(dir: string, name: string, code: string): Promise<string[]> {
  const file = join(dir, `${name}.ps1`);
  await writeFile(file, code);
  const r = await check(file);
  return r.Findings.map((f) => `${f.Rule} ${f.Command} ${f.Detail}`.trim());
}

describe('Hyper-V cmdlet calls in ps/ against the real module signatures', function () {
  this.timeout(120_000);
  let tmp: { dir: string; cleanup(): Promise<void> };
  before(async () => {
    tmp = await tempDir('vmmirror-sigcheck-');
  });
  after(async () => tmp?.cleanup());

  it('finds every ps/ script, at least 30 Hyper-V calls, and no mismatch', async () => {
    const r = await check(psDir);
    expect(r.Files.length).to.be.at.least(15);
    expect(r.Calls).to.be.at.least(30);
    expect(r.Findings, JSON.stringify(r.Findings, null, 1)).to.deep.equal([]);
  });

  const cases: Record<string, { code: string; expect: string[] }> = {
    'unknown-parameter': { code: 'Hyper-V\\Get-VM -Idd $g', expect: ['UnknownParameter Get-VM -Idd'] },
    'two-sets': { code: "Hyper-V\\Get-VM -Id $g -Name 'web1'", expect: ['NoParameterSet Get-VM'] },
    'vm-and-name': { code: "Hyper-V\\Stop-VM -VM $vm -Name 'x' -TurnOff", expect: ['NoParameterSet Stop-VM'] },
    'alias-in-wrong-set': { code: 'Hyper-V\\Get-VM -VMName $n -Id $g', expect: ['NoParameterSet Get-VM'] },
    'splat-unknown-key': { code: '$p = @{ VM = $vm; Bogus = 1 }\nHyper-V\\Start-VM @p', expect: ['UnknownParameter Start-VM -Bogus'] },
    'splat-key-added-later': { code: "$p = @{ Name = 'x' }\n$p['Id'] = $g\nHyper-V\\Get-VM @p", expect: ['NoParameterSet Get-VM'] },
    'splat-member-added': { code: '$p = [ordered]@{}\n$p.Path = $x\n$p.Bogus = 2\nHyper-V\\Get-VHD @p', expect: ['UnknownParameter Get-VHD -Bogus'] },
    'splat-unresolved': { code: 'function f { Hyper-V\\Get-VM @PSBoundParameters }', expect: ['UnresolvedSplat Get-VM @PSBoundParameters'] },
    'unqualified': { code: 'Get-VM -Id $g', expect: ['Unqualified Get-VM'] },
    'unknown-cmdlet': { code: 'Hyper-V\\Get-VMThing -Id $g', expect: ['UnknownCmdlet Hyper-V\\Get-VMThing'] },
    'ambiguous-prefix': { code: 'Hyper-V\\Stop-VM -VM $vm -Co', expect: ['AmbiguousParameter Stop-VM -Co could be -ComputerName, -Confirm'] },
    'duplicate': { code: 'Hyper-V\\Stop-VM -VM $vm -Force -Force', expect: ['DuplicateParameter Stop-VM -Force'] },
    'mandatory-missing': { code: 'Hyper-V\\Import-VM -Register', expect: ['NoParameterSet Import-VM'] },
    'too-many-positional': { code: "Hyper-V\\Get-VM 'a' 'b'", expect: ['NoParameterSet Get-VM'] },
    'nothing-to-pipe-into': { code: "'x' | Hyper-V\\Get-VMHostNumaNode", expect: ['NoParameterSet Get-VMHostNumaNode'] },
    'whatif-on-a-getter': { code: 'Hyper-V\\Get-VM -WhatIf', expect: ['UnknownParameter Get-VM -WhatIf'] },
    // Calls the real module accepts stay clean.
    'good-positional': { code: "Hyper-V\\Get-VM 'web1'", expect: [] },
    'good-pipeline': { code: '$vm | Hyper-V\\Get-VMHardDiskDrive', expect: [] },
    'good-switches': { code: 'Hyper-V\\Stop-VM -VM $vm -TurnOff -Force -Confirm:$false -AsJob -ErrorAction Stop', expect: [] },
    'good-alias-and-prefix': { code: 'Hyper-V\\Get-VM -VMName $n -ErrorA SilentlyContinue -ev e', expect: [] },
    'good-splat': { code: "$p = @{ VM = $vm }\nif ($x) { $p.Save = $true }\nHyper-V\\Stop-VM @p -Confirm:$false", expect: [] },
  };
  describe('seeded bad calls in temp scripts (one checker run over all of them)', () => {
    const byFile = new Map<string, string[]>();
    before(async () => {
      const dir = join(tmp.dir, 'cases');
      await mkdir(dir);
      for (const [name, c] of Object.entries(cases)) await writeFile(join(dir, `${name}.ps1`), `${c.code}\n`);
      const r = await check(dir);
      expect(r.Files.length).to.equal(Object.keys(cases).length);
      for (const f of r.Findings) {
        const key = basename(f.File, '.ps1');
        byFile.set(key, [...(byFile.get(key) ?? []), `${f.Rule} ${f.Command} ${f.Detail}`.trim()]);
      }
    });
    for (const [name, c] of Object.entries(cases)) {
      it(`${c.expect.length === 0 ? 'accepts' : 'flags'} ${name}: ${c.code.replace(/\n/g, '; ')}`, () => {
        const got = byFile.get(name) ?? [];
        expect(got.length, got.join('\n')).to.equal(c.expect.length);
        for (let i = 0; i < c.expect.length; i++) expect(got[i]).to.satisfy((x: string) => x.startsWith(c.expect[i]!), got.join('\n'));
      });
    }
  });

  it('accepts seeded calls that supply exactly what one parameter set makes mandatory, and flags one bogus parameter added to each', async () => {
    const { seed, int } = seeded('signature-check random calls');
    const sig = Signatures.parse(JSON.parse(readFileSync(defaultFixturePath, 'utf8')));
    const names = Object.keys(sig.Cmdlets);
    const lines: string[] = [];
    const bogus: string[] = [];
    for (let n = 0; n < 25; n++) {
      const cmdlet = names[int(0, names.length - 1)]!;
      const params = sig.Cmdlets[cmdlet]!.Parameters;
      // A named set (a parameter of __AllParameterSets belongs to each); __AllParameterSets only when there is none.
      const named = [...new Set(Object.values(params).flatMap((p) => Object.keys(p.Sets)))].filter((x) => x !== '__AllParameterSets');
      const sets = named.length > 0 ? named : ['__AllParameterSets'];
      const set = sets[int(0, sets.length - 1)]!;
      const args = Object.entries(params)
        .filter(([, p]) => (p.Sets[set] ?? p.Sets.__AllParameterSets)?.Mandatory === true)
        .map(([pn, p]) => (p.Type === 'switch' ? `-${pn}` : `-${pn} $v`));
      const bad = `Zq${int(100000, 999999)}`;
      lines.push(`Hyper-V\\${cmdlet} ${args.join(' ')}`);
      lines.push(`Hyper-V\\${cmdlet} ${args.join(' ')} -${bad} $v`);
      bogus.push(`${cmdlet} -${bad}`);
    }
    const got = await findingsFor(tmp.dir, `random-${seed}`, `${lines.join('\n')}\n`);
    expect(got, `seed ${seed}`).to.deep.equal(bogus.map((b) => `UnknownParameter ${b}`));
  });

  it('keeps the fixture equal to what extract.ts makes of the reference (when the reference is on this machine)', function () {
    // The reference lives outside the repository (the fixture is the copy): a clone without it skips,
    // but CI has it beside the checkout and must run this.
    if (!existsSync(reference)) {
      if (process.env.CI) throw new Error(`${reference} is missing; CI must check the fixture against it`);
      this.skip();
    }
    expect(extractSignatures(readFileSync(reference, 'utf8'))).to.equal(readFileSync(defaultFixturePath, 'utf8'));
  });
});
