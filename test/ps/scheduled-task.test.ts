import { expect } from 'chai';
import { join } from 'node:path';
import { z } from 'zod';
import { run } from '../../src/util/exec';
import { pesterPath, pwshPath } from '../hypervisor/hyperv/pwsh';

// Runs the Pester tests of the scheduled-task scripts (test/ps/task/*.Tests.ps1) on real pwsh against
// the mock ScheduledTasks module. Kept out of test/ps/*.Tests.ps1 (pester.test.ts) so each suite
// loads only the mock it needs.

const Summary = z.object({
  Passed: z.number(),
  Failed: z.number(),
  Tests: z.array(z.object({ Name: z.string(), Result: z.string(), Error: z.string() })),
  BrokenContainers: z.array(z.object({ Path: z.string(), Result: z.string(), Error: z.string() })),
});


describe('ps/ scheduled task scripts (Pester, mock ScheduledTasks module)', function () {
  this.timeout(120_000);

  it('registers, updates, keeps idempotent, uninstalls and keeps paths as data', async () => {
    const r = await run(pwshPath(), ['-NoProfile', '-NonInteractive', '-File', join(__dirname, 'Invoke-PesterSuite.ps1'), '-PesterPath', pesterPath(), '-Dir', join(__dirname, 'task')], {
      timeoutMs: 110_000,
      env: {
        ...process.env,
        TERM: 'dumb',
        NO_COLOR: '1',
        VMMIRROR_TEST_NODE: process.execPath,
      },
    });
    const line = r.stdout.split(/\r?\n/).find((l) => l.startsWith('{'));
    if (line === undefined) throw new Error(`Pester wrote no summary (exit ${r.exitCode}): ${r.stdout}\n${r.stderr}`);
    const s = Summary.parse(JSON.parse(line));
    expect(s.BrokenContainers, JSON.stringify(s.BrokenContainers)).to.deep.equal([]);
    const failed = s.Tests.filter((t) => t.Result !== 'Passed');
    expect(failed, JSON.stringify(failed, null, 2)).to.deep.equal([]);
    expect(s.Passed).to.equal(11);
  });
});
