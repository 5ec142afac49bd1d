import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { replicaStateDir } from '../../src/agent/replica-stores';
import type { LoadedConfig } from '../../src/config';
import { createSimulatedHypervisor } from '../../src/hypervisor/simulated';
import { COMMIT_FILE } from '../../src/replication/replica/recovery';
import { LabVerifyOutput, type LabHostName, type LabModule } from '../../src/lab/schema';
import { vmmirror } from '../cli/vmmirror-process';
import { qemuCompare } from '../helpers/qemu';
import type { ClusterUnderTest } from './cluster';
import { bootsOn, handovers, verifyCopy, type Boot, type Handover } from './history';

// The steps the scenarios share: wait for a placement or a replicated write (real events: samples
// and commit markers), measure a failover, and judge every copy once the lab is stopped.

export type Placement = Map<string, LabHostName>;

export function other(h: LabHostName): LabHostName {
  return h === 'hva' ? 'hvb' : 'hva';
}

/** Every VM on its default primary. */
export function defaultPlacement(c: ClusterUnderTest): Placement {
  return new Map(c.lab.Modules.map((m) => [m.VmId, m.DefaultPrimary]));
}

export function modulesOf(c: ClusterUnderTest, h: LabHostName): LabModule[] {
  return c.lab.Modules.filter((m) => m.DefaultPrimary === h);
}

/** Waits for the first sample in which every VM runs on exactly the host `placement` names. */
export async function waitPlacement(c: ClusterUnderTest, placement: Placement, what: string, timeoutMs: number): Promise<number> {
  const s = await c.sampler.waitFor(what, (x) => [...placement].every(([vm, h]) => (x.running.get(vm) ?? []).join() === h), timeoutMs);
  return s.at;
}

/** Waits until `host` has committed (its peer acknowledged) a generation holding the VM's writes up to now. */
export async function waitReplicated(c: ClusterUnderTest, vmId: string, host: LabHostName, timeoutMs = 60_000): Promise<number> {
  const log = { host, simDir: c.lab.Hosts.find((h) => h.Name === host)!.SimDirectory };
  // At least one write: a VM that has only just started has written nothing yet.
  const now = Math.max(1, ...(await bootsOn(log, vmId)).map((b) => b.lastSeq));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const committed = Math.max(0, ...(await bootsOn(log, vmId)).flatMap((b) => b.committed));
    if (committed >= now) return committed;
    if (Date.now() > deadline) throw new Error(`${host} committed no generation of ${vmId} holding write ${now} in ${timeoutMs} ms (last committed: ${committed})`);
    await sleep(200);
  }
}

/**
 * The VM's life once the host running it now has logged its boot (the sampler sees a VM process
 * from its launch; its boot marker comes when it has opened its disks).
 */
export async function settledLife(c: ClusterUnderTest, vmId: string, timeoutMs = 20_000): Promise<Boot[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const life = await c.life(vmId);
    const on = c.sampler.runningNow(vmId);
    if (on.length === 0 || life.at(-1)?.host === on[0]) return life;
    if (Date.now() > deadline) throw new Error(`${vmId} runs on ${on.join('+')} but its last boot is on ${life.at(-1)?.host ?? 'no host'} after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** The handovers of the VM's life that happened after `skip` earlier ones. */
export async function newHandovers(c: ClusterUnderTest, vmId: string, skip: number): Promise<Handover[]> {
  return handovers(await settledLife(c, vmId)).slice(skip);
}

export function rateOf(m: LabModule): number {
  return m.Writer.RatePerSecond;
}

/** Sets an agent setting in both hosts' cluster.json before the lab starts (e.g. a shorter failback stabilisation). */
export async function setAgentSetting(c: ClusterUnderTest, key: string, value: unknown): Promise<void> {
  for (const h of c.lab.Hosts) {
    const path = join(h.ConfigDirectory, 'cluster.json');
    const doc = JSON.parse(await readFile(path, 'utf8')) as { Agent: Record<string, unknown> };
    doc.Agent[key] = value;
    await writeFile(path, `${JSON.stringify(doc, null, 2)}\n`);
  }
}

/**
 * With every process and VM stopped: each copy of each VM holds a consistent prefix of the VM's
 * life (the boot-wise chain over both hosts), the two copies are equal (qemu-img compare, an
 * independent reader), and the write where the VM went on never lost an acknowledged write.
 */
export async function judgeStoppedLab(c: ClusterUnderTest): Promise<void> {
  for (const m of c.lab.Modules) {
    const life = await c.life(m.VmId);
    for (const copy of m.Copies) {
      const r = await verifyCopy(copy.Path, m.VmId, life);
      expect(r.consistent, `${m.Name} on ${copy.Host}: ${JSON.stringify(r.mismatches)}`).to.equal(true);
      expect(r.prefixSeq, `${m.Name} on ${copy.Host} holds the VM's last write`).to.equal(life.at(-1)?.lastSeq ?? 0);
    }
    const [x, y] = m.Copies as [LabModule['Copies'][0], LabModule['Copies'][0]];
    const cmp = await qemuCompare(x.Path, y.Path);
    expect(cmp.same, `${m.Name}: qemu-img compare of the two copies: ${cmp.output}`).to.equal(true);
  }
  // A second opinion: `vmmirror lab verify`, the lab's own verifier (another implementation). With
  // the lab stopped it says every VM "runs on no host", so only its judgement of each copy is used.
  const r = await vmmirror(['lab', 'verify', c.lab.Directory, '--json']);
  const doc = LabVerifyOutput.parse(JSON.parse(r.stdout));
  for (const v of doc.Vms) {
    for (const copy of v.Copies) {
      expect({ consistent: copy.Consistent, onCurrentHistory: copy.OnCurrentHistory }, `lab verify: ${v.Module} on ${copy.Host}: ${JSON.stringify(copy.Mismatches.slice(0, 5))} ${copy.Note ?? ''}`).to.deep.equal({ consistent: true, onCurrentHistory: true });
    }
  }
}

/** Waits until every VM runs on its default primary and both agents agree: PRIM there, SECOND on the other host. */
export async function waitSteady(c: ClusterUnderTest, what: string, timeoutMs: number): Promise<void> {
  await waitPlacement(c, defaultPlacement(c), `${what}: every VM on its default primary`, timeoutMs);
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const [a, b] = await Promise.all([c.states('hva').catch(() => ({})), c.states('hvb').catch(() => ({}))]);
    const states: Record<LabHostName, Record<string, string | null>> = { hva: a, hvb: b };
    const ok = c.lab.Modules.every((m) => states[m.DefaultPrimary][m.Name] === 'PRIM' && states[other(m.DefaultPrimary)][m.Name] === 'SECOND');
    if (ok) return;
    last = JSON.stringify(states);
    if (Date.now() > deadline) throw new Error(`${what}: not PRIM/SECOND on every module after ${timeoutMs} ms: ${last}`);
    await sleep(250);
  }
}

/** Time the VM ran nowhere while it moved from `from` to `to` after `t` (sampler resolution). */
export function downtimeOfMove(c: ClusterUnderTest, vmId: string, from: LabHostName, to: LabHostName, t: number): number | null {
  const arrived = c.sampler.firstRunningAfter(vmId, to, t);
  if (arrived === null) return null;
  let left: number | null = null;
  for (const s of c.sampler.timeline) if (s.at >= t && s.at < arrived && (s.running.get(vmId) ?? []).includes(from)) left = s.at;
  return left === null ? null : arrived - left;
}

/** The events (`event` field) a lab process logged since `sinceWallMs` (its log's `time`: wall clock, this machine). */
export async function loggedEvents(c: ClusterUnderTest, processName: string, event: string, sinceWallMs: number): Promise<Array<Record<string, unknown>>> {
  let text = '';
  try {
    text = await readFile(c.logFile(processName), 'utf8');
  } catch {
    return [];
  }
  const out: Array<Record<string, unknown>> = [];
  for (const line of text.split('\n')) {
    if (!line.includes(`"event":"${event}"`)) continue;
    try {
      const e = JSON.parse(line) as Record<string, unknown>;
      if (e.event === event && typeof e.time === 'number' && e.time >= sinceWallMs) out.push(e);
    } catch {
      // a line torn by a SIGKILL
    }
  }
  return out;
}

/** Resync bytes per module as the returning host's agent reported them (event resync-done), against the disk size. */
export async function resyncFigures(c: ClusterUnderTest, h: LabHostName, sinceWallMs: number): Promise<Array<{ module: string; bytes: number | null; diskBytes: number }>> {
  const done = await loggedEvents(c, `${h}-agent`, 'resync-done', sinceWallMs);
  return c.lab.Modules.map((m) => {
    const e = done.filter((x) => x.module === m.Name).at(-1);
    return { module: m.Name, bytes: typeof e?.bytes === 'number' ? e.bytes : null, diskBytes: m.DiskBytes };
  });
}

/**
 * The end of a scenario: the guest writers pause, each running host commits a generation holding its
 * VM's last write, then every process and VM stops, so every copy must equal the VM's whole life.
 */
export async function quiesceAndStop(c: ClusterUnderTest): Promise<void> {
  for (const m of c.lab.Modules) {
    const on = c.sampler.runningNow(m.VmId);
    expect(on.length, `${m.Name} runs on one host before the stop`).to.equal(1);
    const h = c.lab.Hosts.find((x) => x.Name === on[0])!;
    await createSimulatedHypervisor(h.SimDirectory).setWriter(m.VmId, { ratePerSecond: 0 });
    await waitReplicated(c, m.VmId, h.Name);
  }
  await c.stopAll();
}

/**
 * A dead host's replica at rest (DESIGN I1): a consistent prefix of the VM's life, or, if the host
 * died applying a committed generation, a committed journal that its restart re-applies (the end
 * judge then sees the copy whole). Anything else is a mixture no restart can repair.
 */
export async function expectReplicaAtRest(c: ClusterUnderTest, m: LabModule, host: LabHostName, life: Boot[]): Promise<'consistent' | 'committed journal'> {
  const copy = await verifyCopy(m.Copies.find((x) => x.Host === host)!.Path, m.VmId, life);
  if (copy.consistent) return 'consistent';
  const dataDir = c.lab.Hosts.find((h) => h.Name === host)!.DataDirectory;
  const journal = join(replicaStateDir({ dataDir } as LoadedConfig, m.Name), COMMIT_FILE);
  expect(existsSync(journal), `${m.Name}: ${host}'s replica is a mixture (${JSON.stringify(copy.mismatches)}) and there is no committed journal ${journal} to repair it`).to.equal(true);
  return 'committed journal';
}
