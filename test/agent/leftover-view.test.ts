import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasCode } from '../../src/errors';
import { qemuCompare } from '../helpers/qemu';
import { twoHosts, type TwoHosts } from './two-hosts';

// Defect 10: a release that fails leaves the frozen view open. The agent must recover by itself:
// the module's next cycle releases the leftover first, and so does the agent's start.

async function logLines(path: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(path, 'utf8');
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('src/agent (a failed release does not stop replication)', function () {
  this.timeout(120_000);
  let t: TwoHosts;
  let freezeRecord: string;
  before(async () => {
    t = await twoHosts({});
    freezeRecord = join(t.simDir, 'vms', t.vmId, 'freeze.json');
    await t.start(t.a);
    await t.start(t.b);
    await t.waitConnected();
  });
  after(async () => t.cleanup());

  it('after both releases of a cycle fail, the next cycle releases the leftover view and succeeds, without a restart', async () => {
    expect((await t.sync(t.a)).ToGeneration).to.equal(1);
    // The commit release and the cycle's fallback release (commit: false) both fail.
    await t.sim.injectFault(t.vmId, { release: 2 });
    const failed = await t.sync(t.a).then(() => null, (e: unknown) => e);
    expect(hasCode(failed, 'HYPERVISOR_ERROR'), String(failed)).to.equal(true);
    expect(existsSync(freezeRecord), 'the view was left open').to.equal(true);
    const s = await t.status(t.a);
    expect(s.Modules[0]!.LastError?.Code).to.equal('HYPERVISOR_ERROR');

    const next = await t.sync(t.a);
    // S applied generation 2 in the failed cycle; P never stored its reference, so it scans.
    expect(next).to.deep.include({ FromGeneration: 2, ToGeneration: 3, ChangeDetection: 'Scan' });
    expect(existsSync(freezeRecord)).to.equal(false);
    expect((await t.status(t.a)).Modules[0]!.LastError).to.equal(null);
    const released = (await logLines(t.a.logFile)).filter((l) => l.msg === 'released frozen views left open');
    expect(released.map((l) => l.why)).to.deep.equal(['an earlier release failed']);
    expect((await qemuCompare(t.diskPath, t.replicaPath)).same).to.equal(true);
  });

  it('an agent stopped with a view left open releases it at start, before any cycle', async () => {
    await t.sim.injectFault(t.vmId, { release: 2 });
    // The agent is idle (hourly schedule); the write goes to the running VM's process.
    await t.sim.guestWrite(t.vmId, { offset: 3 * 1024 * 1024, length: 65536, pattern: 0xc3 });
    expect(hasCode(await t.sync(t.a).then(() => null, (e: unknown) => e), 'HYPERVISOR_ERROR')).to.equal(true);
    expect(existsSync(freezeRecord)).to.equal(true);
    expect(await t.kill(t.a, 'SIGTERM')).to.equal(0);
    expect(existsSync(freezeRecord), 'stopping does not touch the view').to.equal(true);
    await t.start(t.a);
    expect(existsSync(freezeRecord), 'released at start').to.equal(false);
    // The cycle recorded its view before reading (view.json): the start releases it by that record first.
    const atStart = (await logLines(t.a.logFile)).filter((l) => l.msg === 'released frozen views left open' && l.why !== 'an earlier release failed');
    expect(atStart.map((l) => l.why)).to.have.length(1);
    expect(atStart[0]!.why).to.match(/^view .+ recorded by a cycle that did not finish$/);
    await t.waitConnected();
    expect((await t.sync(t.a)).ToGeneration).to.equal(5);
    expect((await qemuCompare(t.diskPath, t.replicaPath)).same).to.equal(true);
  });
});
