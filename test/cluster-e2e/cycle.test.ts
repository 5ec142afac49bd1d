import { expect } from 'chai';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { netnsAvailable, requireNetnsOrSkip } from '../helpers/netns';
import { seeded } from '../helpers/seed';
import { clusterUnderTest, HOSTS, type ClusterUnderTest } from './cluster';
import { expectNeverOnBoth, expectNoAcknowledgedWriteLost, report } from './figures';
import { handovers, verifyCopy } from './history';
import { downtimeOfMove, judgeStoppedLab, quiesceAndStop, settledLife, other, rateOf, setAgentSetting, waitPlacement, waitReplicated, waitSteady } from './steps';

// Scenario 4 of the cluster suite: the kill/return cycle several times in one lab, the victim and
// the instant of each kill seeded. After each kill: every VM on the survivor, the victim's copies
// (untouched since its death) consistent, no acknowledged write lost; after each return: every VM
// back on its default primary, PRIM/SECOND on both agents, the failback lossless. At the end,
// with the lab stopped, every copy verifies and the two copies of each VM are equal.

const CYCLES = 3;

describe('cluster e2e: the kill/return cycle, seeded, several times', function () {
  this.timeout(300_000);
  const rnd = seeded('cluster-e2e cycle');
  let c: ClusterUnderTest;
  before(async function () {
    if (!netnsAvailable()) return requireNetnsOrSkip(this);
    process.stderr.write(`      seed ${rnd.seed}\n`);
    c = await clusterUnderTest({ vms: 2, seed: rnd.seed });
    await setAgentSetting(c, 'FailbackStableSeconds', 5);
    c.sampler.start();
    await c.startAll();
    await waitSteady(c, 'lab start', 90_000);
  });
  after(async () => c?.cleanup());

  it(`kills a seeded host at a seeded instant and brings it back, ${CYCLES} times, checking roles and data after each`, async () => {
    const killToRunning: number[] = [];
    const lost: number[] = [];
    const lostSeconds: number[] = [];
    const downtime: number[] = [];
    const victims: string[] = [];
    for (let k = 0; k < CYCLES; k++) {
      const victim = HOSTS[rnd.int(0, 1)]!;
      const survivor = other(victim);
      victims.push(victim);
      const moving = c.lab.Modules.filter((m) => m.DefaultPrimary === victim);
      const before = new Map<string, number>();
      for (const m of c.lab.Modules) before.set(m.VmId, handovers(await settledLife(c, m.VmId)).length);
      for (const m of moving) await waitReplicated(c, m.VmId, victim);
      await sleep(rnd.int(0, c.lab.ReplicationIntervalSeconds * 1000));
      const bootsAtKill = new Map<string, Set<string>>();
      const t0 = await c.killHost(victim);
      // The boots that existed at the kill: the victim's copies hold a prefix of exactly those.
      for (const m of c.lab.Modules) bootsAtKill.set(m.VmId, new Set((await c.life(m.VmId)).map((b) => b.boot)));
      await waitPlacement(c, new Map(c.lab.Modules.map((m) => [m.VmId, survivor])), `cycle ${k}: every VM on ${survivor} after ${victim}'s death`, 60_000);
      for (const m of moving) {
        killToRunning.push(c.sampler.firstRunningAfter(m.VmId, survivor, t0)! - t0);
        const hs = handovers(await settledLife(c, m.VmId)).slice(before.get(m.VmId));
        expect(hs.map((h) => `${h.from}>${h.to}`), `cycle ${k} ${m.Name}`).to.deep.equal([`${victim}>${survivor}`]);
        expectNoAcknowledgedWriteLost(m.Name, hs);
        lost.push(hs[0]!.lostWrites);
        lostSeconds.push(hs[0]!.lostWrites / rateOf(m));
      }
      for (const m of c.lab.Modules) {
        if (m.DefaultPrimary === survivor) expect(c.sampler.changes(m.VmId, t0), `cycle ${k}: ${m.Name} kept running on ${survivor}`).to.deep.equal([]);
        const life = (await c.life(m.VmId)).filter((b) => bootsAtKill.get(m.VmId)!.has(b.boot));
        const copy = await verifyCopy(m.Copies.find((x) => x.Host === victim)!.Path, m.VmId, life);
        expect(copy.consistent, `cycle ${k}: ${m.Name} on the dead ${victim}: ${JSON.stringify(copy.mismatches)}`).to.equal(true);
      }

      const returnedAt = performance.now();
      await c.startHost(victim);
      await waitSteady(c, `cycle ${k}: after ${victim} returned`, 120_000);
      for (const m of moving) {
        const hs = handovers(await settledLife(c, m.VmId)).slice(before.get(m.VmId)! + 1);
        expect(hs.map((h) => `${h.from}>${h.to}`), `cycle ${k} ${m.Name} failback`).to.deep.equal([`${survivor}>${victim}`]);
        expect(hs[0]!.lostWrites, `cycle ${k} ${m.Name}: failback loses nothing`).to.equal(0);
        downtime.push(downtimeOfMove(c, m.VmId, survivor, victim, returnedAt)!);
      }
      expectNeverOnBoth(c);
    }
    await quiesceAndStop(c);
    await judgeStoppedLab(c);
    expectNeverOnBoth(c);
    await report(c, '4-kill-return-cycle', { victims, killToRunningMs: killToRunning, writesLost: lost, writesLostSeconds: lostSeconds, failbackDowntimeMs: downtime });
  });
});
