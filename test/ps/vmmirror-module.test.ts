import { expect } from 'chai';
import { join } from 'node:path';
import { z } from 'zod';
import { run } from '../../src/util/exec';
import { cliNodeArgs } from '../cli/vmmirror-process';
import { seeded } from '../helpers/seed';
import { createTestLab, type LabUnderTest } from '../lab/lab-cli';
import { pesterPath, pwshPath, repoRoot } from '../hypervisor/hyperv/pwsh';

// The PowerShell module ps/VmMirror under real pwsh and Pester (test/ps/VmMirror/*.Tests.ps1):
// against a running `vmmirror lab` (one VM) made here, and against a recording fake CLI.

const Summary = z.object({
  Passed: z.number(),
  Failed: z.number(),
  Tests: z.array(z.object({ Name: z.string(), Result: z.string(), Error: z.string() })),
  BrokenContainers: z.array(z.object({ Path: z.string(), Result: z.string(), Error: z.string() })),
});

const StatusModules = z.object({ Modules: z.array(z.object({ Name: z.string(), State: z.string().nullable() })) });

// The CLI the module runs: bin/vmmirror.js (the module's own default) when dist/ is current, as
// under `npm test`; else the sources through ts-node (dist/ is stale while developing).
function cliForModule(): string {
  const bin = join(repoRoot, 'bin', 'vmmirror.js');
  return cliNodeArgs([])[0] === bin ? bin : join(__dirname, 'VmMirror', 'vmmirror-dev.js');
}

async function moduleState(t: LabUnderTest, host: 'hva' | 'hvb', name: string): Promise<string | null | undefined> {
  const dir = t.lab.Hosts.find((h) => h.Name === host)!.ConfigDirectory;
  const r = await t.cli(['status', '--json', '--dir', dir]);
  if (r.exitCode !== 0) return undefined;
  return StatusModules.parse(JSON.parse(r.stdout)).Modules.find((m) => m.Name === name)?.State;
}

describe('ps/VmMirror (the PowerShell module, Pester on real pwsh against a vmmirror lab)', function () {
  this.timeout(240_000);
  const rng = seeded('vmmirror powershell module');
  let t: LabUnderTest | undefined;

  before(async () => {
    process.stderr.write(`      lab seed ${rng.seed}\n`);
    // Failback manual: only the module's own cmdlets move the VM (no automatic failback races them).
    t = await createTestLab(rng.seed, ['--vms', '1', '--failback', 'manual']);
    const started = await t.cli(['lab', 'start', t.dir, '--json']);
    if (started.exitCode !== 0) throw new Error(`lab start exited ${started.exitCode}: ${started.stdout}${started.stderr}`);
    // The agents answer once started; the module settles (cold start over) on their next exchange.
    // Wait for that state itself, with a deadline, so the Pester tests start from PRIM / SECOND.
    const name = t.lab.Modules[0]!.Name;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const [a, b] = [await moduleState(t, 'hva', name), await moduleState(t, 'hvb', name)];
      if (a === 'PRIM' && b === 'SECOND') break;
      if (Date.now() > deadline) throw new Error(`the lab did not settle in 60 s: hva ${a}, hvb ${b}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  after(async () => {
    if (t === undefined) return;
    await t.cli(['lab', 'stop', t.dir, '--json']);
    await t.cleanup();
  });

  it('passes every Pester test of the module (lab, recording fake CLI, help and manifest)', async () => {
    const r = await run(pwshPath(), ['-NoProfile', '-NonInteractive', '-File', join(__dirname, 'Invoke-PesterSuite.ps1'), '-PesterPath', pesterPath(), '-Dir', join(__dirname, 'VmMirror')], {
      timeoutMs: 200_000,
      env: { ...process.env, TERM: 'dumb', NO_COLOR: '1', VMMIRROR_TEST_LAB: t!.dir, VMMIRROR_CLI: cliForModule(), VMMIRROR_NODE: process.execPath, VMMIRROR_LOG_LEVEL: 'warn' },
    });
    const line = r.stdout.split(/\r?\n/).find((l) => l.startsWith('{'));
    if (line === undefined) throw new Error(`Pester wrote no summary (exit ${r.exitCode}): ${r.stdout}\n${r.stderr}`);
    const s = Summary.parse(JSON.parse(line));
    expect(s.BrokenContainers, JSON.stringify(s.BrokenContainers)).to.deep.equal([]);
    const failed = s.Tests.filter((x) => x.Result !== 'Passed');
    expect(failed, JSON.stringify(failed, null, 2)).to.deep.equal([]);
    // Every file ran: lab (12), fake CLI (27), help and manifest (12).
    expect(s.Passed).to.be.at.least(51);
  });
});
