import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { readWriteLog, viewsAfterWrite } from '../../src/hypervisor/simulated';
import { qemuCompare } from '../helpers/qemu';
import { seeded } from '../helpers/seed';
import { twoHosts, type TwoHosts } from './two-hosts';

async function sha(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

// Polls a condition that a real event makes true (a status field, a change-log marker), with a deadline.
async function until<T>(what: string, probe: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('src/agent (scheduled cycles)', function () {
  this.timeout(90_000);
  let t: TwoHosts;
  before(async () => {
    t = await twoHosts({ interval: 1 });
    // The VM runs before the agents start: its process then owns the disks for the whole test, and
    // the test's driver and the agent's never act on the disks of an Off VM at the same time
    // (the simulated driver assumes one driver object per host folder for that).
    await t.sim.startVm(t.vmId, { timeoutMs: 20_000, waitHeartbeat: false });
    await t.start(t.a);
    await t.start(t.b);
    await t.waitConnected();
  });
  after(async () => t.cleanup());

  it('replicates on the module interval (every second) with no command, and catches up with new guest writes', async () => {
    const gen = async (): Promise<number> => (await t.status(t.b)).Modules[0]!.LocalGeneration ?? 0;
    const g1 = await until('two scheduled cycles', async () => {
      const g = await gen();
      return g >= 2 ? g : null;
    });
    const s = await t.status(t.a);
    expect(s.Modules[0]!.NextCycleAt).to.be.a('string');
    expect(Date.parse(s.Modules[0]!.NextCycleAt!) - Date.now()).to.be.at.most(1500);

    const rnd = seeded('scheduled writes');
    for (let i = 0; i < 4; i++) await t.sim.guestWrite(t.vmId, { offset: rnd.int(0, 2000) * 4096, length: 8192, pattern: 0x90 + i });
    // The guest writes nothing else (no pattern writer): its last write is the last entry of the log.
    const last = Math.max(...(await readWriteLog(t.simDir, t.vmId, 0)).map((w) => w.seq));
    // A cycle whose view was frozen after that write, and committed: the secondary acknowledged the
    // generation holding every write. Scheduled cycles keep running; later ones change nothing.
    const view = await until('a committed view frozen after the last guest write', async () => (await viewsAfterWrite(t.simDir, t.vmId, 0, last)).find((v) => v.committed) ?? null);
    expect(view.viewId).to.be.a('string');
    // Stop the primary (its in-flight cycle finishes) so no cycle runs while the files are compared.
    expect(await t.kill(t.a, 'SIGTERM')).to.equal(0);
    await t.sim.stopVm(t.vmId, 'TurnOff', { timeoutMs: 20_000 });
    expect(await gen()).to.be.greaterThan(g1);
    expect((await qemuCompare(t.diskPath, t.replicaPath)).same).to.equal(true);
    expect(await sha(t.replicaPath)).to.equal(await sha(t.diskPath));
  });
});
