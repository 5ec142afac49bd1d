import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { qemuCompare } from '../helpers/qemu';
import { seeded } from '../helpers/seed';
import { twoHosts, type TwoHosts } from './two-hosts';

async function sha(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

describe('src/agent (scheduled cycles)', function () {
  this.timeout(90_000);
  let t: TwoHosts;
  before(async () => {
    t = await twoHosts({ interval: 1 });
    await t.start(t.a);
    await t.start(t.b);
    await t.waitConnected();
  });
  after(async () => t.cleanup());

  it('replicates on the module interval (every second) with no command, and catches up with new guest writes', async () => {
    const gen = async (): Promise<number> => (await t.status(t.b)).Modules[0]!.LocalGeneration ?? 0;
    const until = async (pred: (g: number) => boolean, what: string): Promise<number> => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const g = await gen();
        if (pred(g)) return g;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (generation ${g})`);
        await sleep(200);
      }
    };
    const g1 = await until((g) => g >= 2, 'two scheduled cycles');
    const s = await t.status(t.a);
    expect(s.Modules[0]!.NextCycleAt).to.be.a('string');
    expect(Date.parse(s.Modules[0]!.NextCycleAt!) - Date.now()).to.be.at.most(1500);
    await t.sim.startVm(t.vmId, { timeoutMs: 20_000, waitHeartbeat: false });
    const rnd = seeded('scheduled writes');
    for (let i = 0; i < 4; i++) await t.sim.guestWrite(t.vmId, { offset: rnd.int(0, 2000) * 4096, length: 8192, pattern: 0x90 + i });
    const g2 = await until((g) => g >= g1 + 2, 'cycles after the writes');
    // Stop the primary (its last cycle finishes) so no cycle runs while the files are compared.
    expect(await t.kill(t.a, 'SIGTERM')).to.equal(0);
    await t.sim.stopVm(t.vmId, 'TurnOff', { timeoutMs: 20_000 });
    expect(g2).to.be.greaterThan(g1);
    expect((await qemuCompare(t.diskPath, t.replicaPath)).same).to.equal(true);
    expect(await sha(t.replicaPath)).to.equal(await sha(t.diskPath));
  });
});
