import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSimulatedVm, crashSimulatedHost, readWriteLog, simulatedVmPids, verifyPatternPrefix } from '../../../src/hypervisor/simulated';
import { seeded } from '../../helpers/seed';
import { makeSimFixture, type SimFixture } from './fixture';

const MiB = 1024 * 1024;
const T = { timeoutMs: 20_000 };

function pidGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    // A zombie is dead too; anything else still runs.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

describe('src/hypervisor/simulated/host', function () {
  this.timeout(60_000);
  let f: SimFixture;
  before(async () => {
    f = await makeSimFixture({ switchNames: ['LAN'], hostMemoryBytes: 8 * 1024 * MiB });
  });
  after(async () => f?.cleanup());

  it('kills every VM process of the host on a crash, after which the VMs read as Off and start again', async () => {
    const { seed } = seeded('sim-host-crash');
    const ids = [];
    for (const name of ['crash one', 'crash two']) {
      ids.push(await createSimulatedVm(f.stateDir, { name, disks: [{ sizeBytes: 2 * MiB, subformat: 'fixed' }], writer: { ratePerSecond: 100, unitsPerWrite: 1, seed } }));
    }
    for (const id of ids) await f.hypervisor.startVm(id, { ...T, waitHeartbeat: true });
    const before = await simulatedVmPids(f.stateDir);
    expect(before.map((p) => p.vmId).sort()).to.deep.equal([...ids].sort());
    await sleep(300);

    const killed = await crashSimulatedHost(f.stateDir);
    expect(killed.sort()).to.deep.equal(before.map((p) => p.pid).sort());
    // The kernel may still be tearing a killed process down (no memory left, not yet reaped).
    for (const p of before) {
      for (let i = 0; i < 200 && !pidGone(p.pid); i++) await sleep(10);
      expect(pidGone(p.pid), `pid ${p.pid} is gone`).to.equal(true);
    }
    for (const id of ids) {
      const record = JSON.parse(await readFile(join(f.stateDir, 'vms', id, 'vm.json'), 'utf8')) as { state: string };
      expect(record.state, 'the record still says what the host last did').to.equal('Running');
      expect((await f.hypervisor.getVm(id))?.state).to.equal('Off');
    }
    expect((await f.hypervisor.getHost()).freeMemoryBytes).to.equal(8 * 1024 * MiB);

    // After the "reboot" the guest continues its sequence: no write number is used twice.
    const lastBefore = Math.max(...(await readWriteLog(f.stateDir, ids[0]!, 0)).map((w) => w.seq));
    await f.hypervisor.startVm(ids[0]!, { ...T, waitHeartbeat: true });
    await sleep(300);
    await f.hypervisor.stopVm(ids[0]!, 'Shutdown', T);
    const log = await readWriteLog(f.stateDir, ids[0]!, 0);
    const seqs = log.map((w) => w.seq);
    expect(new Set(seqs).size).to.equal(seqs.length);
    expect(Math.max(...seqs)).to.be.greaterThan(lastBefore);
    // The disk itself holds exactly the writes logged (a SIGKILL mid-write can only over-report).
    const disk = (await f.hypervisor.getVm(ids[0]!))!.disks[0]!.path;
    const report = await verifyPatternPrefix({ diskPath: disk, format: 'VHDX', stateDir: f.stateDir, vmId: ids[0]!, diskIndex: 0 });
    expect(report.consistent, JSON.stringify(report.mismatches)).to.equal(true);
    expect(report.prefixSeq).to.equal(Math.max(...seqs));
  });

  it('takes down a VM caught in the middle of starting when the host crashes', async () => {
    const { int, seed } = seeded('sim-crash-while-starting');
    const id = await createSimulatedVm(f.stateDir, { name: 'starting', disks: [{ sizeBytes: 1 * MiB, subformat: 'raw' }], writer: { ratePerSecond: 100, unitsPerWrite: 1, seed } });
    const starting = f.hypervisor.startVm(id, { ...T, waitHeartbeat: true }).then(() => 'started', (err: unknown) => (err as { code?: string }).code);
    await sleep(int(0, 60));
    await crashSimulatedHost(f.stateDir);
    await starting;
    // Whatever point the start had reached, nothing of this host runs a moment later.
    await sleep(300);
    expect(await simulatedVmPids(f.stateDir)).to.deep.equal([]);
    expect((await f.hypervisor.getVm(id))?.state).to.equal('Off');
    expect((await f.hypervisor.startVm(id, { ...T, waitHeartbeat: true })).state, 'the next start works').to.equal('Running');
    await f.hypervisor.stopVm(id, 'TurnOff', T);
  });

  it('refuses to start a VM when the host lacks the memory, and says so', async () => {
    const big = await createSimulatedVm(f.stateDir, { name: 'too big', memoryBytes: 9 * 1024 * MiB, disks: [] });
    try {
      await f.hypervisor.startVm(big, { ...T, waitHeartbeat: true });
      expect.fail('started a VM larger than the host');
    } catch (err) {
      expect((err as { code?: string }).code).to.equal('HYPERVISOR_ERROR');
      expect(String((err as Error).message)).to.match(/memory/i);
    }
    expect((await f.hypervisor.getVm(big))?.state).to.equal('Off');
  });
  it('still lists a VM whose disk is being rewritten (unreadable), with the disk as Unknown, but refuses to freeze it', async () => {
    const id = await createSimulatedVm(f.stateDir, { name: 'torn replica', disks: [{ sizeBytes: 1 * MiB, subformat: 'fixed' }] });
    const disk = (await f.hypervisor.getVm(id))!.disks[0]!.path;
    await writeFile(disk, Buffer.alloc(4096, 0xee));
    const listed = (await f.hypervisor.listVms()).find((v) => v.id === id);
    expect(listed?.disks[0]).to.include({ type: 'Unknown', sizeBytes: 0, basePath: disk });
    try {
      await f.hypervisor.freeze(id, T);
      expect.fail('froze a VM whose disk is not a VHDX');
    } catch (err) {
      expect((err as { code?: string }).code).to.equal('VHDX_INVALID');
    }
  });
});
