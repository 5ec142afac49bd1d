import { expect } from 'chai';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { seeded } from '../helpers/seed';
import { HOSTS, type ClusterUnderTest } from './cluster';
import { expectNeverOnBoth, expectNoAcknowledgedWriteLost } from './figures';
import { handovers, verifyCopy } from './history';
import { downtimeOfMove, expectReplicaAtRest, other, rateOf, resyncFigures, settledLife, waitPlacement, waitReplicated, waitSteady } from './steps';

// One kill/return cycle (scenario 4): a seeded host dies whole at a seeded instant of the
// replication interval; every VM must run on the survivor, the copies the dead host was running
// (untouched since its death) must be consistent, no acknowledged write lost; then it returns: every VM back on its
// default primary, PRIM/SECOND on both agents, the failback lossless.

export interface CycleFigures {
  victims: string[];
  killToRunningMs: number[];
  writesLost: number[];
  writesLostSeconds: number[];
  failbackDowntimeMs: number[];
  resyncBytes: Array<{ module: string; bytes: number | null; diskBytes: number }>;
}

export async function killAndReturn(c: ClusterUnderTest, rnd: ReturnType<typeof seeded>, label: string, f: CycleFigures): Promise<void> {
  const victim = HOSTS[rnd.int(0, 1)]!;
  const survivor = other(victim);
  f.victims.push(victim);
  const moving = c.lab.Modules.filter((m) => m.DefaultPrimary === victim);
  const before = new Map<string, number>();
  for (const m of c.lab.Modules) before.set(m.VmId, handovers(await settledLife(c, m.VmId)).length);
  for (const m of moving) await waitReplicated(c, m.VmId, victim);
  await sleep(rnd.int(0, c.lab.ReplicationIntervalSeconds * 1000));
  const t0 = await c.killHost(victim);
  // The boots that existed at the kill: the victim's copies hold a prefix of exactly those.
  const bootsAtKill = new Map<string, Set<string>>();
  for (const m of c.lab.Modules) bootsAtKill.set(m.VmId, new Set((await c.life(m.VmId)).map((b) => b.boot)));
  await waitPlacement(c, new Map(c.lab.Modules.map((m) => [m.VmId, survivor])), `${label}: every VM on ${survivor} after ${victim}'s death`, 60_000);
  for (const m of moving) {
    f.killToRunningMs.push(c.sampler.firstRunningAfter(m.VmId, survivor, t0)! - t0);
    const hs = handovers(await settledLife(c, m.VmId)).slice(before.get(m.VmId));
    expect(hs.map((h) => `${h.from}>${h.to}`), `${label} ${m.Name}`).to.deep.equal([`${victim}>${survivor}`]);
    expectNoAcknowledgedWriteLost(m.Name, hs);
    f.writesLost.push(hs[0]!.lostWrites);
    f.writesLostSeconds.push(hs[0]!.lostWrites / rateOf(m));
  }
  // The survivor's own VMs ran on; the victim's replicas of them are whole, or repairable at its restart.
  for (const m of c.lab.Modules.filter((x) => x.DefaultPrimary === survivor)) {
    expect(c.sampler.changes(m.VmId, t0), `${label}: ${m.Name} kept running on ${survivor}`).to.deep.equal([]);
    await expectReplicaAtRest(c, m, victim, (await c.life(m.VmId)).filter((b) => bootsAtKill.get(m.VmId)!.has(b.boot)));
  }
  // The copies the victim was running: only its VM wrote them, so at rest they hold a prefix of its writes.
  for (const m of moving) {
    const life = (await c.life(m.VmId)).filter((b) => bootsAtKill.get(m.VmId)!.has(b.boot));
    const copy = await verifyCopy(m.Copies.find((x) => x.Host === victim)!.Path, m.VmId, life);
    expect(copy.consistent, `${label}: ${m.Name} on the dead ${victim}: ${JSON.stringify(copy.mismatches)}`).to.equal(true);
  }

  const returnedAt = performance.now();
  const returnedWall = Date.now();
  await c.startHost(victim);
  await waitSteady(c, `${label}: after ${victim} returned`, 120_000);
  for (const m of moving) {
    const hs = handovers(await settledLife(c, m.VmId)).slice(before.get(m.VmId)! + 1);
    expect(hs.map((h) => `${h.from}>${h.to}`), `${label} ${m.Name} failback`).to.deep.equal([`${survivor}>${victim}`]);
    expect(hs[0]!.lostWrites, `${label} ${m.Name}: failback loses nothing`).to.equal(0);
    expectNoAcknowledgedWriteLost(m.Name, hs);
    f.failbackDowntimeMs.push(downtimeOfMove(c, m.VmId, survivor, victim, returnedAt)!);
  }
  f.resyncBytes.push(...(await resyncFigures(c, victim, returnedWall)).filter((r) => r.bytes !== null));
  expectNeverOnBoth(c);
}
