import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { SelftestReport } from '../../src/hypervisor/hyperv/selftest';
import { seeded } from '../helpers/seed';
import { MiB, newVm } from '../hypervisor/hyperv/helpers';
import { makeMockHost, type MockHost } from '../hypervisor/hyperv/mock-fixture';
import { pwshPath, repoRoot } from '../hypervisor/hyperv/pwsh';
import { cliNodeArgs } from './vmmirror-process';
import { run } from '../../src/util/exec';

// `vmmirror selftest hyperv` end to end on the mock Hyper-V host: the CLI in its own process, its
// own PowerShell session, the real ps/ scripts. The test makes the guest write once the baseline
// reference point exists (polled in the mock's state), then signals the CLI to go on.

const mockManifest = join(repoRoot, 'test', 'hypervisor', 'mock-hyperv', 'Hyper-V.psd1');
const State = z.object({
  Vms: z.array(z.object({ Id: z.string(), Snapshots: z.array(z.unknown()).nullable(), ReferencePoints: z.array(z.unknown()).nullable() })),
});

describe('cli/commands/selftest (hyperv, on the mock host)', function () {
  this.timeout(180_000);
  let h: MockHost;
  before(async () => {
    h = await makeMockHost({ switchNames: ['LAN'], hostMemoryBytes: 64 * 1024 * MiB });
  });
  after(async () => h?.cleanup());

  async function vmState(id: string): Promise<z.infer<typeof State>['Vms'][number]> {
    return State.parse(await h.mock('GetState', {})).Vms.find((v) => v.Id.toLowerCase() === id)!;
  }

  it('passes every step on a running VM, reports the changed bytes and consistency, and leaves nothing behind', async () => {
    const id = await newVm(h, 'lab vm', { State: 'Running' });
    const signal = join(h.workDir, 'changed');
    const cli = run(
      process.execPath,
      cliNodeArgs(['selftest', 'hyperv', '--vm', 'lab vm', '--json', '--work-dir', h.workDir, '--powershell', pwshPath(),
        '--import-module', mockManifest, '--change-signal', signal, '--change-wait-ms', '120000', '--timeout-ms', '30000']),
      { env: { ...process.env, VMMIRROR_LOG_LEVEL: 'warn', MOCK_HYPERV_STATE: h.stateDir }, timeoutMs: 170_000 },
    );
    // The baseline exists once the first view became a reference point: then the guest writes.
    while (((await vmState(id)).ReferencePoints ?? []).length === 0) await sleep(100);
    const r = seeded('cli-selftest');
    const length = r.int(1, 64) * 512;
    const offset = r.int(0, (4 * MiB - length) / 512) * 512;
    await h.guestWrite(id, offset, length, 0x66);
    await writeFile(signal, '');
    const out = await cli;
    expect(out.exitCode, `stdout: ${out.stdout}\nstderr: ${out.stderr}`).to.equal(0);
    const lines = out.stdout.trim().split('\n');
    expect(lines, 'one JSON document on stdout').to.have.length(1);
    const report = SelftestReport.parse(JSON.parse(lines[0]!));
    expect(report.Passed).to.equal(true);
    expect(report.VmId).to.equal(id);
    expect(report.Steps.map((s) => [s.Name, s.Status])).to.deep.equal(
      ['Host', 'FindVm', 'ReleaseLeftoverViews', 'FreezeAndRead', 'Change', 'ChangedRanges', 'PruneOldReference', 'ExportConfig', 'Readiness',
        'RegisterFindsItself', 'RegisterRefusesOtherDisks', 'Cleanup'].map((n) => [n, 'Passed']),
    );
    const facts = (n: string): Record<string, unknown> => report.Steps.find((s) => s.Name === n)!.Facts;
    expect(facts('FreezeAndRead').Consistency).to.equal('Application');
    expect(facts('Change').Signalled).to.equal(true);
    expect(facts('ChangedRanges').ChangedBytes).to.deep.equal([String(length)]);
    expect(facts('RegisterFindsItself').Adopted, 'a running VM is not adopted as a replica').to.equal(false);
    const after = await vmState(id);
    expect(after.Snapshots ?? []).to.deep.equal([]);
    expect(after.ReferencePoints ?? [], 'every reference point it made is pruned').to.deep.equal([]);
    expect(existsSync(join(h.workDir, 'selftest-export'))).to.equal(false);
  });

  it('fails (exit 1) at FindVm for a VM name it cannot resolve, skips the rest, and still cleans up', async () => {
    const out = await run(
      process.execPath,
      cliNodeArgs(['selftest', 'hyperv', '--vm', 'no such vm', '--json', '--work-dir', h.workDir, '--powershell', pwshPath(), '--import-module', mockManifest]),
      { env: { ...process.env, VMMIRROR_LOG_LEVEL: 'warn', MOCK_HYPERV_STATE: h.stateDir }, timeoutMs: 120_000 },
    );
    expect(out.exitCode).to.equal(1);
    const report = SelftestReport.parse(JSON.parse(out.stdout.trim()));
    expect(report.Passed).to.equal(false);
    const find = report.Steps.find((s) => s.Name === 'FindVm')!;
    expect(find.Status).to.equal('Failed');
    expect(find.Error!.Code).to.equal('VM_NOT_FOUND');
    expect(report.Steps.filter((s) => s.Status === 'Skipped').length).to.equal(report.Steps.length - 3);
    expect(report.Steps.at(-1)).to.include({ Name: 'Cleanup', Status: 'Passed' });
  });
});
