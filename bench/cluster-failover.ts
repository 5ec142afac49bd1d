import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { callAgent } from '../src/agent/control/client';
import { StatusDocument } from '../src/agent/control/documents';
import { controlEndpoint } from '../src/agent/control/endpoint';
import { isRecordAlive, readPidRecord } from '../src/lab/pid-files';
import { LabFile, LabVerifyOutput, type LabHostName } from '../src/lab/schema';
import { vmmirror } from '../test/cli/vmmirror-process';
import { bootsOn, handovers, lifeOf, type Boot } from '../test/cluster-e2e/history';
import { RunSampler } from '../test/cluster-e2e/sampler';
import { seeded } from '../test/helpers/seed';
import { clusterFailoverRows, isEvent, logLines, resyncFloor, summarise, type ClusterFailoverResult, type ClusterRound } from './cluster-figures';

// The cluster's figures for issue 8, measured through the real CLI (`vmmirror lab create/start/
// crash/verify/stop`) with the default timings (heartbeat 1 s, peer lost after 5 s, interval 2 s;
// only FailbackStableSeconds is 2 instead of 30, to keep a round short). Disks are big enough
// (256 MiB) and the writers slow enough (5 writes/s) that an absence touches a small part of each
// disk, so "a resync costs what differs, not the disk size" can be read off the figures: each
// resync is set against the disk and against its floor, the 64 KiB blocks the absence wrote.

export { clusterFailoverRows, type ClusterFailoverResult } from './cluster-figures';

const other = (h: LabHostName): LabHostName => (h === 'hva' ? 'hvb' : 'hva');

/** Polls `done` every `everyMs` until it holds; throws after `timeoutMs` (a stuck cluster fails the bench, never hangs it). */
async function until(what: string, done: () => Promise<boolean>, timeoutMs = 60_000, everyMs = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await sleep(everyMs);
  }
}

async function cli(args: string[]): Promise<string> {
  const r = await vmmirror(args);
  if (r.exitCode !== 0) throw new Error(`vmmirror ${args.join(' ')} exited ${r.exitCode}: ${r.stdout}${r.stderr.slice(-2000)}`);
  return r.stdout;
}

export async function benchClusterFailover(o: { diskMiB: number; rounds: number; writesPerSecond: number; log: (s: string) => void }): Promise<ClusterFailoverResult> {
  const rnd = seeded('bench cluster-failover');
  o.log(`cluster failover: seed ${rnd.seed} (VMMIRROR_TEST_SEED replays), 2 VMs, ${o.diskMiB} MiB disks, ${o.writesPerSecond} writes/s, ${o.rounds} rounds`);
  const root = join(process.env.BENCH_WORK_DIR ?? tmpdir(), `vmmirror-bench-cluster-${process.pid}`);
  const dir = join(root, 'lab');
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  const lab = LabFile.parse(JSON.parse(await cli(['lab', 'create', dir, '--json', '--vms', '2', '--disk-mib', String(o.diskMiB), '--writes-per-second', String(o.writesPerSecond), '--seed', String(rnd.seed)])));
  const host = (h: LabHostName) => lab.Hosts.find((x) => x.Name === h)!;
  for (const h of lab.Hosts) {
    const path = join(h.ConfigDirectory, 'cluster.json');
    const doc = JSON.parse(await readFile(path, 'utf8')) as { Agent: Record<string, unknown> };
    doc.Agent.FailbackStableSeconds = 2;
    // Default damping allows 3 returns per host per hour; more rounds than 6 would be damped, by design.
    if (o.rounds > 6) doc.Agent.FailbackDamping = { MaxReturns: o.rounds, WindowMinutes: 60 };
    await writeFile(path, `${JSON.stringify(doc, null, 2)}\n`);
  }
  const sampler = new RunSampler(lab.Hosts.map((h) => ({ name: h.Name, simDir: h.SimDirectory })));
  const states = async (h: LabHostName): Promise<Record<string, string | null>> => {
    const doc = StatusDocument.parse(await callAgent({ ...(await controlEndpoint(host(h).ConfigDirectory)), timeoutMs: 5000 }, 'GET', '/v1/status'));
    return Object.fromEntries(doc.Modules.map((m) => [m.Name, m.State]));
  };
  const placed = (on: (m: (typeof lab.Modules)[number]) => LabHostName) => (s: { running: Map<string, string[]> }) => lab.Modules.every((m) => (s.running.get(m.VmId) ?? []).join() === on(m));
  // Steady: every VM on its default primary (samples), PRIM there and SECOND on the peer (both agents).
  const waitSteady = async (what: string): Promise<void> => {
    await sampler.waitFor(what, placed((m) => m.DefaultPrimary), 180_000);
    const deadline = Date.now() + 180_000;
    for (;;) {
      const [a, b] = await Promise.all([states('hva').catch(() => ({})), states('hvb').catch(() => ({}))]);
      const st: Record<LabHostName, Record<string, string | null>> = { hva: a, hvb: b };
      if (lab.Modules.every((m) => st[m.DefaultPrimary][m.Name] === 'PRIM' && st[other(m.DefaultPrimary)][m.Name] === 'SECOND')) return;
      if (Date.now() > deadline) throw new Error(`${what}: not PRIM/SECOND after 180 s: ${JSON.stringify(st)}`);
      await sleep(250);
    }
  };
  const life = (vmId: string): Promise<Boot[]> => lifeOf(lab.Hosts.map((h) => ({ host: h.Name, simDir: h.SimDirectory })), vmId);
  const verify = async (extra: string[] = []): Promise<LabVerifyOutput> => {
    const r = await vmmirror(['lab', 'verify', dir, '--json', ...extra]);
    return LabVerifyOutput.parse(JSON.parse(r.stdout));
  };

  const rounds: ClusterRound[] = [];
  const cycleMs: number[] = [];
  let finalVerifyOk = false;
  sampler.start();
  try {
    await cli(['lab', 'start', dir, '--json']);
    await waitSteady('lab start');
    const firstVictim: LabHostName = rnd.int(0, 1) === 0 ? 'hva' : 'hvb';
    for (let r = 0; r < o.rounds; r++) {
      // Victims alternate so that each host returns at most 3 times an hour (the default damping).
      const victim = r % 2 === 0 ? firstVictim : other(firstVictim);
      const survivor = other(victim);
      const moving = lab.Modules.filter((m) => m.DefaultPrimary === victim);
      const round: ClusterRound = { victim, killToRunningMs: [], writesLost: [], writesLostSeconds: [], resyncs: [], failbackDowntimeMs: [], failbackObservedMs: [], failbackWritesLost: [], returnToSteadyMs: 0 };
      const lostBefore = new Map((await verify()).Vms.map((v) => [v.VmId, v.WritesLost]));
      const handoversBefore = new Map<string, number>();
      for (const m of lab.Modules) handoversBefore.set(m.VmId, handovers(await life(m.VmId)).length);
      // Start each round replicated (the victim's peer acknowledged a generation holding its VMs'
      // writes), then kill at a seeded instant of the interval, so the kill falls anywhere in a cycle.
      for (const m of moving) {
        const log = { host: victim, simDir: host(victim).SimDirectory };
        const now = Math.max(1, ...(await bootsOn(log, m.VmId)).map((b) => b.lastSeq));
        await until(`${victim} committed ${m.Name} through write ${now}`, async () => Math.max(0, ...(await bootsOn(log, m.VmId)).flatMap((b) => b.committed)) >= now);
      }
      await sleep(rnd.int(0, lab.ReplicationIntervalSeconds * 1000 - 1));
      // The kill instant: the last moment the victim's agent was seen alive (the CLI's own start-up
      // is not counted; polling every 5 ms can only make kill-to-running look longer, never shorter).
      const agentPid = await readPidRecord(join(dir, 'run', `${victim}-agent.pid`));
      if (agentPid === null) throw new Error(`${victim}-agent has no pid file before the crash`);
      let killedAt = performance.now();
      let crashed = false;
      const crash = cli(['lab', 'crash', dir, victim, '--json']).finally(() => (crashed = true));
      crash.catch(() => undefined); // handled below, by the await: not an unhandled rejection meanwhile
      while (isRecordAlive(agentPid) && !crashed) {
        killedAt = performance.now();
        await sleep(5);
      }
      await crash;
      await sampler.waitFor(`every VM on ${survivor}`, placed(() => survivor), 60_000);
      for (const m of moving) round.killToRunningMs.push(sampler.firstRunningAfter(m.VmId, survivor, killedAt)! - killedAt);
      o.log(`round ${r + 1}: ${victim} killed; ${moving.map((m) => m.Name).join(', ')} running on ${survivor} after ${round.killToRunningMs.map((x) => x.toFixed(0)).join('/')} ms`);
      // The survivor's boot of each moved VM is in its log once the VM opened its disks.
      for (const m of moving) await until(`${m.Name}'s boot on ${survivor} logged`, async () => (await life(m.VmId)).at(-1)?.host === survivor, 20_000, 100);
      const afterKill = await verify();
      for (const m of moving) {
        const v = afterKill.Vms.find((x) => x.VmId === m.VmId)!;
        const lost = v.WritesLost - lostBefore.get(m.VmId)!;
        const own = handovers(await life(m.VmId)).slice(handoversBefore.get(m.VmId));
        // Two independent counts of the same writes: lab verify's and the hosts' logs (history.ts).
        if (own.length !== 1 || own[0]!.lostWrites !== lost) o.log(`  ${m.Name}: lab verify says ${lost} writes lost, the logs' handover ${JSON.stringify(own)}`);
        round.writesLost.push(lost);
        round.writesLostSeconds.push(lost / m.Writer.RatePerSecond);
      }
      await sleep(3000 + rnd.int(0, 2000)); // the absence: the survivor runs every VM alone
      // What the survivor had committed of each VM before the return: the resync is the first
      // generation the returning host acknowledges after it (the survivor commits nothing alone).
      const before = new Map<string, { boot: string; committed: number }>();
      for (const m of lab.Modules) {
        const b = (await life(m.VmId)).at(-1)!;
        before.set(m.VmId, { boot: b.boot, committed: b.committed.length });
      }
      const returnedWall = Date.now();
      const returnedAt = performance.now();
      await cli(['lab', 'start', dir, victim, '--json']);
      await waitSteady(`round ${r + 1}: after ${victim} returned`);
      round.returnToSteadyMs = performance.now() - returnedAt;
      // A failback is a planned switchover: lab verify must count no write lost since the failover.
      const home = await verify();
      for (const m of moving) round.failbackWritesLost.push(home.Vms.find((x) => x.VmId === m.VmId)!.WritesLost - afterKill.Vms.find((x) => x.VmId === m.VmId)!.WritesLost);
      for (const e of await logLines(dir, `${victim}-agent`, returnedWall, isEvent('resync-done'))) {
        const m = lab.Modules.find((x) => x.Name === e.module)!;
        const cycle = (await logLines(dir, `${survivor}-agent`, returnedWall, (x) => x.msg === 'cycle done' && x.module === m.Name && x.generation === e.generation))[0];
        round.resyncs.push({
          module: m.Name, moved: moving.includes(m), bytes: Number(e.bytes), diskFileBytes: Number(e.diskBytes), generation: Number(e.generation),
          floorBytes: resyncFloor(await life(m.VmId), before.get(m.VmId)!.boot, before.get(m.VmId)!.committed), detection: typeof cycle?.detection === 'string' ? cycle.detection : null,
        });
      }
      for (const e of await logLines(dir, `${victim}-agent`, returnedWall, isEvent('failback-done'))) round.failbackDowntimeMs.push(Number(e.downtimeMs));
      for (const m of moving) {
        const back = sampler.firstRunningAfter(m.VmId, victim, returnedAt)!;
        const left = sampler.timeline.filter((s) => s.at >= returnedAt && s.at < back && (s.running.get(m.VmId) ?? []).includes(survivor)).at(-1)?.at;
        if (left !== undefined) round.failbackObservedMs.push(back - left);
      }
      o.log(`round ${r + 1}: ${victim} back, steady after ${round.returnToSteadyMs.toFixed(0)} ms; resync ${round.resyncs.map((x) => `${x.module} ${(x.bytes / 2 ** 20).toFixed(1)} MiB`).join(', ')}; failback downtime ${round.failbackDowntimeMs.map((x) => x.toFixed(0)).join('/')} ms`);
      rounds.push(round);
    }
    // Every ordinary cycle of the run (resyncs left out): the "one cycle" of the writes-lost target.
    const resyncGens = new Set(rounds.flatMap((x) => x.resyncs.map((y) => `${y.module}@${y.generation}`)));
    for (const h of lab.Hosts) {
      for (const e of await logLines(dir, `${h.Name}-agent`, 0, (x) => x.msg === 'cycle done' && !resyncGens.has(`${String(x.module)}@${String(x.generation)}`))) cycleMs.push(Number(e.ms));
    }
    await cli(['lab', 'stop', dir, '--json']);
    const end = await verify(['--stopped']);
    finalVerifyOk = end.Ok;
    if (!end.Ok) o.log(`lab verify --stopped: ${JSON.stringify(end.Problems)}`);
  } finally {
    await sampler.stop();
    // Whatever failed, leave no process behind (stop is a no-op for what already stopped).
    await vmmirror(['lab', 'stop', dir, '--json']).catch(() => undefined);
    if (process.env.BENCH_KEEP === undefined) await rm(root, { recursive: true, force: true });
    else o.log(`kept ${root}`);
  }
  return {
    seed: rnd.seed, diskBytes: o.diskMiB * 2 ** 20, writesPerSecond: o.writesPerSecond, intervalSeconds: lab.ReplicationIntervalSeconds, vms: 2, rounds,
    momentsOnBoth: sampler.momentsOnBoth(), maxSampleGapMs: sampler.maxGapMs(), finalVerifyOk, ...summarise(rounds, o.diskMiB * 2 ** 20, cycleMs),
  };
}

async function main(): Promise<void> {
  const log = (s: string): void => void process.stderr.write(`bench: ${s}\n`);
  const c = await benchClusterFailover({
    diskMiB: Number(process.env.BENCH_CLUSTER_DISK_MIB ?? '256'),
    rounds: Number(process.env.BENCH_CLUSTER_ROUNDS ?? '5'),
    writesPerSecond: Number(process.env.BENCH_CLUSTER_WRITES_PER_SECOND ?? '5'),
    log,
  });
  const rows = clusterFailoverRows(c);
  const w = Math.max(...rows.map((r) => r[0].length));
  process.stdout.write(`\nvmmirror cluster failover (seed ${c.seed}, ${c.vms} VMs, ${c.diskBytes / 2 ** 20} MiB disks, ${c.writesPerSecond} writes/s, ${c.rounds.length} rounds)\n`);
  for (const [a, b, x] of rows) process.stdout.write(`  ${a.padEnd(w)}  ${b.padEnd(40)}  ${x}\n`);
  const out = resolve(process.env.BENCH_CLUSTER_OUT ?? join(__dirname, 'results', 'cluster-failover.json'));
  await mkdir(join(out, '..'), { recursive: true });
  await writeFile(out, `${JSON.stringify({ date: new Date().toISOString(), ...c }, null, 2)}\n`);
  process.stdout.write(`saved ${out}\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
