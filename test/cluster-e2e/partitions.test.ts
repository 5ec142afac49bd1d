import { expect } from 'chai';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LabHostName } from '../../src/lab/schema';
import { netnsAvailable, requireNetnsOrSkip } from '../helpers/netns';
import { seeded } from '../helpers/seed';
import { clusterUnderTest, type ClusterUnderTest } from './cluster';
import { expectNeverOnBoth, expectNoAcknowledgedWriteLost, report } from './figures';
import { handovers } from './history';
import { judgeStoppedLab, loggedEvents, modulesOf, quiesceAndStop, settledLife, other, setAgentSetting, waitPlacement, waitSteady } from './steps';

// Scenario 3 of the cluster suite: partitions and partial failures, one lab, each case held longer
// than the timeouts (peer lost after 5 s, a lease lasts 5 s), the sampler running throughout, and
// the lab brought back to every VM on its default primary before the next case.

const HOLD_MS = 8_000;

describe('cluster e2e: partitions, the witness, a dead agent, a cold start from the older copy', function () {
  this.timeout(600_000);
  const rnd = seeded('cluster-e2e partitions');
  let c: ClusterUnderTest;
  const handoversBefore = new Map<string, number>();
  before(async function () {
    if (!netnsAvailable()) return requireNetnsOrSkip(this);
    process.stderr.write(`      seed ${rnd.seed}\n`);
    c = await clusterUnderTest({ vms: 2, seed: rnd.seed });
    await setAgentSetting(c, 'FailbackStableSeconds', 2);
    c.sampler.start();
    await c.startAll();
    await waitSteady(c, 'lab start', 90_000);
  });
  beforeEach(async function () {
    // Only when before() failed to build the lab: mocha already reports that hook as a failure,
    // so the cases are skipped rather than failing a second time on an undefined lab.
    if (c === undefined) return this.skip();
    await c.restoreAll();
    await waitSteady(c, 'before the case', 120_000);
    for (const m of c.lab.Modules) handoversBefore.set(m.VmId, handovers(await settledLife(c, m.VmId)).length);
  });
  afterEach(() => {
    if (c !== undefined) expectNeverOnBoth(c);
  });
  after(async () => c?.cleanup());

  /** The moves of each VM since the case began, with no acknowledged write lost in any. */
  async function movesSinceCaseBegan(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const m of c.lab.Modules) {
      const hs = handovers(await settledLife(c, m.VmId)).slice(handoversBefore.get(m.VmId));
      expectNoAcknowledgedWriteLost(m.Name, hs);
      out.set(m.Name, hs.map((h) => `${h.from}>${h.to}`));
    }
    return out;
  }

  function nothingMovedOrStopped(t0: number, what: string): void {
    for (const m of c.lab.Modules) expect(c.sampler.changes(m.VmId, t0), `${what}: ${m.Name} must neither stop nor move`).to.deep.equal([]);
  }

  it('A|B with the witness reachable by both: every VM stays where it runs, none stops', async () => {
    c.cut('hva', 'hvb');
    const t0 = performance.now();
    await sleep(HOLD_MS);
    nothingMovedOrStopped(t0, 'A|B');
    c.heal('hva', 'hvb');
    await waitSteady(c, 'A|B healed', 120_000);
    expect([...(await movesSinceCaseBegan()).values()].flat()).to.deep.equal([]);
    await report(c, '3a-cut-a-b', { heldMs: HOLD_MS });
  });

  for (const isolated of ['hva', 'hvb'] as LabHostName[]) {
    it(`${isolated} cut from its peer and the witness: it fences, its VMs run on ${other(isolated)}, and come back after the heal`, async () => {
      const survivor = other(isolated);
      const moving = modulesOf(c, isolated);
      c.isolate(isolated);
      const t0 = performance.now();
      await waitPlacement(c, new Map(c.lab.Modules.map((m) => [m.VmId, survivor])), `every VM on ${survivor}`, 60_000);
      const isolationToRunning = moving.map((m) => c.sampler.firstRunningAfter(m.VmId, survivor, t0)! - t0);
      await sleep(2000);
      for (const m of modulesOf(c, survivor)) expect(c.sampler.changes(m.VmId, t0), `${m.Name} kept running on ${survivor}`).to.deep.equal([]);
      c.rejoin(isolated);
      await waitSteady(c, `${isolated} rejoined`, 120_000);
      const moves = await movesSinceCaseBegan();
      for (const m of moving) expect(moves.get(m.Name), m.Name).to.deep.equal([`${isolated}>${survivor}`, `${survivor}>${isolated}`]);
      await report(c, `3-isolate-${isolated}`, { killToRunningMs: isolationToRunning });
    });
  }

  it('the witness down alone: nothing stops, no module changes state', async () => {
    const states = { hva: await c.states('hva'), hvb: await c.states('hvb') };
    await c.killWitness();
    const t0 = performance.now();
    await sleep(HOLD_MS);
    nothingMovedOrStopped(t0, 'witness down');
    expect({ hva: await c.states('hva'), hvb: await c.states('hvb') }, 'module states with the witness down').to.deep.equal(states);
    await c.startWitness();
    await report(c, '3d-witness-down', { heldMs: HOLD_MS });
  });

  it('the witness down, then A|B: no VM starts on the other host (one vote of two is no quorum)', async () => {
    await c.killWitness();
    await sleep(2000);
    c.cut('hva', 'hvb');
    const t0 = performance.now();
    await sleep(HOLD_MS);
    const stopped: string[] = [];
    for (const m of c.lab.Modules) {
      const elsewhere = c.sampler.timeline.filter((s) => s.at >= t0 && (s.running.get(m.VmId) ?? []).includes(other(m.DefaultPrimary)));
      expect(elsewhere.length, `${m.Name} ran on ${other(m.DefaultPrimary)} with no quorum anywhere`).to.equal(0);
      if (c.sampler.changes(m.VmId, t0).length > 0) stopped.push(m.Name);
    }
    await c.restoreAll();
    await waitSteady(c, 'witness back, A|B healed', 120_000);
    expect([...(await movesSinceCaseBegan()).values()].flat()).to.deep.equal([]);
    await report(c, '3e-witness-down-then-cut', { heldMs: HOLD_MS, fencedModules: stopped });
  });

  it("A's agent SIGKILLed while its VMs run: its guard turns them off before B starts them", async () => {
    const moving = modulesOf(c, 'hva');
    const killedWall = Date.now();
    const t0 = await c.killAgent('hva');
    await waitPlacement(c, new Map(c.lab.Modules.map((m) => [m.VmId, 'hvb'])), "every VM on hvb after hva's agent died", 60_000);
    const toRunning = moving.map((m) => c.sampler.firstRunningAfter(m.VmId, 'hvb', t0)! - t0);
    // The guard, not the dead agent, turned them off (C1 with the agent gone): its log says so, for each VM.
    const fenced = (await loggedEvents(c, 'hva-guard', 'guard-fence', killedWall)).map((e) => e.vmId);
    expect(fenced, "VMs hva's guard turned off").to.include.members(moving.map((m) => m.VmId));
    await c.startAgent('hva');
    await waitSteady(c, "hva's agent restarted", 120_000);
    const moves = await movesSinceCaseBegan();
    for (const m of moving) expect(moves.get(m.Name), m.Name).to.deep.equal(['hva>hvb', 'hvb>hva']);
    await report(c, '3f-agent-only-kill', { killToRunningMs: toRunning });
  });

  it('both hosts down, then only the one with the older copy comes back: it starts none of those VMs', async () => {
    const older = modulesOf(c, 'hva'); // hvb holds only the replica of hva's VMs
    const t0s = await Promise.all([c.killHost('hva'), c.killHost('hvb')]);
    const t0 = Math.min(...t0s);
    await c.startHost('hvb');
    await sleep(HOLD_MS);
    for (const m of older) expect(c.sampler.firstRunningAfter(m.VmId, 'hvb', t0), `${m.Name} started from hvb's older copy`).to.equal(null);
    const ownStarted = modulesOf(c, 'hvb').map((m) => ({ module: m.Name, startedMs: (c.sampler.firstRunningAfter(m.VmId, 'hvb', t0) ?? NaN) - t0 }));
    const states = await c.states('hvb');
    for (const m of older) expect(states[m.Name], `${m.Name} on hvb while hva is away`).to.equal('WAIT');
    await c.startHost('hva');
    await waitSteady(c, 'hva back after the cold start', 120_000);
    expect([...(await movesSinceCaseBegan()).values()].flat()).to.deep.equal([]);
    await report(c, '3g-cold-start-older-copy', { heldMs: HOLD_MS, ownModulesStarted: ownStarted });
  });

  it('at the end, with the lab stopped, every copy verifies and the two copies of each VM are equal', async () => {
    await quiesceAndStop(c);
    await judgeStoppedLab(c);
  });
});
