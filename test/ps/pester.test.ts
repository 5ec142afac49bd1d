import { expect } from 'chai';
import { join } from 'node:path';
import { z } from 'zod';
import { run } from '../../src/util/exec';
import { pesterPath, pwshPath } from '../hypervisor/hyperv/pwsh';

// Runs the Pester tests of the ps/ scripts (test/ps/*.Tests.ps1) on real pwsh with Pester 5.7.1.

const Summary = z.object({
  Passed: z.number(),
  Failed: z.number(),
  Tests: z.array(z.object({ Name: z.string(), Result: z.string(), Error: z.string() })),
  BrokenContainers: z.array(z.object({ Path: z.string(), Result: z.string(), Error: z.string() })),
});

describe('ps/ (Pester tests of the scripts)', function () {
  this.timeout(180_000);

  it('passes every Pester test in test/ps with mocked Hyper-V cmdlets', async () => {
    const r = await run(pwshPath(), ['-NoProfile', '-NonInteractive', '-File', join(__dirname, 'Invoke-PesterSuite.ps1'), '-PesterPath', pesterPath()], {
      timeoutMs: 170_000,
      env: { ...process.env, TERM: 'dumb', NO_COLOR: '1' },
    });
    const line = r.stdout.split(/\r?\n/).find((l) => l.startsWith('{'));
    if (line === undefined) throw new Error(`Pester wrote no summary (exit ${r.exitCode}): ${r.stdout}\n${r.stderr}`);
    const s = Summary.parse(JSON.parse(line));
    expect(s.BrokenContainers, JSON.stringify(s.BrokenContainers)).to.deep.equal([]);
    const failed = s.Tests.filter((t) => t.Result !== 'Passed');
    expect(failed, JSON.stringify(failed, null, 2)).to.deep.equal([]);
    expect(s.Passed).to.be.at.least(26);
  });
});
