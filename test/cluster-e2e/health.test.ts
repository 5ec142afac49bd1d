import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ModuleStatus } from '../../src/agent/control/documents';
import { createSimulatedHypervisor } from '../../src/hypervisor/simulated';
import type { LabHostName, LabModule } from '../../src/lab/schema';
import { netnsAvailable, requireNetnsOrSkip } from '../helpers/netns';
import { seeded } from '../helpers/seed';
import { clusterUnderTest, type ClusterUnderTest } from './cluster';
import { expectNeverOnBoth } from './figures';
import { loggedEvents, newHandovers, waitPlacement, waitSteady } from './steps';

// VM health (issue 9) on the real agents in their namespaces, the simulated hypervisor's guest
// hung for real (heartbeat LostCommunication, shutdown refused): a hung guest is restarted on the
// host that runs it (a new boot there, same epoch, never on the peer), hung again it is moved to
// the peer by a planned switchover (zero writes lost: the final cycle follows the TurnOff), where
// it gets its own restart, and hung once more health gives up and leaves it running. Status shows
// each step on both hosts. Failback is manual so nothing but health moves it.

const LOSS_SECONDS = 2;
type Health = NonNullable<ModuleStatus['Health']>;

describe('cluster e2e: VM health, a hung guest restarted, then relocated, then given up', function () {
  this.timeout(240_000);
  const rnd = seeded('cluster-e2e health');
  let c: ClusterUnderTest;
  let m: LabModule;
  const simDir = (h: LabHostName): string => c.lab.Hosts.find((x) => x.Name === h)!.SimDirectory;
  const health = async (h: LabHostName): Promise<{ state: string | null; epoch: number | null; health: Health }> => {
    const s = (await c.status(h)).Modules.find((x) => x.Name === m.Name)!;
    return { state: s.State, epoch: s.Epoch, health: s.Health! };
  };
  /** Polls `h`'s status until its Health satisfies `ok` (a real state, read through the control API). */
  const waitHealth = async (h: LabHostName, what: string, ok: (x: Health) => boolean, timeoutMs = 30_000): Promise<Health> => {
    const deadline = Date.now() + timeoutMs;
    let last: Health | null = null;
    for (;;) {
      last = (await health(h).catch(() => null))?.health ?? last;
      if (last !== null && ok(last)) return last;
      if (Date.now() > deadline) throw new Error(`${what}: ${h}'s Health is ${JSON.stringify(last)} after ${timeoutMs} ms`);
      await sleep(200);
    }
  };
  const bootsOn = async (h: LabHostName): Promise<number> => (await c.life(m.VmId)).filter((b) => b.host === h).length;
  const hang = async (h: LabHostName): Promise<void> => createSimulatedHypervisor(simDir(h)).hangGuest(m.VmId);

  before(async function () {
    if (!netnsAvailable()) return requireNetnsOrSkip(this);
    process.stderr.write(`      seed ${rnd.seed}\n`);
    c = await clusterUnderTest({ vms: 1, seed: rnd.seed, failback: 'manual' });
    m = c.lab.Modules[0]!;
    expect(m.DefaultPrimary).to.equal('hva');
    for (const h of c.lab.Hosts) {
      const path = join(h.ConfigDirectory, 'cluster.json');
      const doc = JSON.parse(await readFile(path, 'utf8')) as { Defaults: { Policies: Record<string, unknown> } };
      doc.Defaults.Policies.Health = { HeartbeatLossSeconds: LOSS_SECONDS, MaxRestart: 1, MaxRelocate: 1 };
      await writeFile(path, `${JSON.stringify(doc, null, 2)}\n`);
    }
    c.sampler.start();
    await c.startAll();
    await waitSteady(c, 'lab start', 90_000);
    await waitHealth('hva', 'the guest answers on hva', (x) => x.Summary === 'health: ok' && x.Watched);
  });
  after(async () => c?.cleanup());

  it('hung on hva: restarted there (TurnOff + Start: a new boot, same epoch, never on hvb); status says restart and why', async () => {
    const before = await health('hva');
    const boots = await bootsOn('hva');
    const t = performance.now();
    await hang('hva');
    const lost = await waitHealth('hva', 'the loss is seen', (x) => x.LostForMs !== null || x.Restarts === 1);
    expect(lost.Heartbeat === 'LostCommunication' || lost.Restarts === 1, JSON.stringify(lost)).to.equal(true);
    const h = await waitHealth('hva', 'restarted and answering again', (x) => x.Restarts === 1 && x.Summary === 'health: ok');
    expect({ action: h.LastAction, relocations: h.Relocations, givenUp: h.GivenUp }).to.deep.equal({ action: 'restart', relocations: 0, givenUp: false });
    expect(h.LastReason).to.match(new RegExp(`heartbeat lost for \\d+ s \\(limit ${LOSS_SECONDS} s\\)`));
    expect(await bootsOn('hva'), 'a new boot on hva').to.equal(boots + 1);
    expect(c.sampler.changes(m.VmId, t).every((x) => !x.to.includes('hvb')), 'never on hvb').to.equal(true);
    const after = await health('hva');
    expect({ state: after.state, epoch: after.epoch }, 'the restart is no move: same state and epoch').to.deep.equal({ state: 'PRIM', epoch: before.epoch });
    expect(await loggedEvents(c, 'hva-agent', 'health-restart', Date.now() - 120_000)).to.have.length(1);
  });

  it('hung again: moved to hvb by a planned switchover, the hung guest turned off, zero writes lost; the count travels to hvb', async () => {
    const skip = (await newHandovers(c, m.VmId, 0)).length;
    await hang('hva');
    await waitPlacement(c, new Map([[m.VmId, 'hvb']]), 'the VM runs on hvb', 60_000);
    const hs = await newHandovers(c, m.VmId, skip);
    expect(hs.map((x) => `${x.from}>${x.to}`)).to.deep.equal(['hva>hvb']);
    expect(hs[0]!.lostWrites, 'every write made before the TurnOff is on hvb').to.equal(0);
    const there = await waitHealth('hvb', 'hvb runs it and the guest answers there', (x) => x.Summary === 'health: ok' && x.Relocations === 1);
    expect({ restarts: there.Restarts, relocations: there.Relocations, action: there.LastAction }).to.deep.equal({ restarts: 0, relocations: 1, action: 'relocate' });
    // hva's watcher sees its VM off at its next poll after the handover (it is quiet while handing over).
    const home = await waitHealth('hva', 'hva sees the VM gone', (x) => x.Summary === 'health: the VM does not run here');
    expect({ state: (await health('hva')).state, relocations: home.Relocations, action: home.LastAction }).to.deep.equal({ state: 'SECOND', relocations: 1, action: 'relocate' });
    // The handover turned the hung guest off at once: no shutdown waited for and then overridden.
    expect(await readFile(c.logFile('hva-agent'), 'utf8')).to.not.match(/shutdown did not finish; turning the VM off for the handover/);
    expect(await loggedEvents(c, 'hva-agent', 'health-relocate', Date.now() - 120_000)).to.have.length(1);
  });

  it('on hvb: its own restart, then given up (MaxRelocate used): the VM is left running on hvb and status says "given up"', async () => {
    await hang('hvb');
    await waitHealth('hvb', 'restarted on hvb', (x) => x.Restarts === 1 && x.LastAction === 'restart' && x.Summary === 'health: ok');
    await hang('hvb');
    const gaveUp = await waitHealth('hvb', 'given up', (x) => x.GivenUp);
    expect(gaveUp.Summary).to.match(/^health: given up \(1 restarts, 1 relocations\)/);
    expect(gaveUp.LastAction).to.equal('give-up');
    const t = performance.now();
    // Twice the loss limit and more: nothing more happens to it.
    await sleep(LOSS_SECONDS * 2000 + 1500);
    expect(c.sampler.changes(m.VmId, t), 'left as it is').to.deep.equal([]);
    expect(c.sampler.runningNow(m.VmId)).to.deep.equal(['hvb']);
    expect((await health('hvb')).state).to.equal('PRIM');
    expect(await loggedEvents(c, 'hvb-agent', 'health-given-up', Date.now() - 120_000)).to.have.length(1);
    expectNeverOnBoth(c);
  });
});
