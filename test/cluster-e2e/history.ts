import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readChanges } from '../../src/hypervisor/simulated/change-log';
import { decodeDiskPattern, PATTERN_UNIT } from '../../src/hypervisor/simulated';
import { vmPaths } from '../../src/hypervisor/simulated/store';

// A VM's write history across failovers, from the hosts' own files (nothing the agents say). Every
// run of the guest writer (a "boot") logs its boot tag and first sequence number in the change log,
// and its start time in the VM's process.log (all hosts of the lab share this machine's clock).
// A boot continues from the highest number on the copy it starts from, so walking the boots of both
// hosts in the order they started, each boot supersedes every earlier write numbered at or above
// its first number: those writes never reached a copy that went on running, they are the writes
// lost. (Ordering by first number alone is wrong: a host may restart its VM above what it had
// replicated, and lose that run too; verifyPatternPrefix's history takes whole host logs, and after
// a failback a host's log holds both its kept and its discarded writes.)

export interface Boot {
  host: string;
  boot: string;
  /** When the VM process of this boot came up (wall clock of this machine, ms). */
  startedAt: number;
  firstSeq: number;
  /** Highest number this boot logged (firstSeq - 1 when it wrote nothing). */
  lastSeq: number;
  /** The boot's last write may have been in flight when it was killed (logged, perhaps not on disk). */
  lastMayBeTorn: boolean;
  /** Numbers held by views of this host released with commit (the peer had acknowledged them), in order. */
  committed: number[];
  writes: Array<{ seq: number; offset: number; length: number; kind: 'p' | 'g' }>;
}

export interface HostLog {
  host: string;
  simDir: string;
}

// `<ISO time> pid <pid> up, boot <boot id>`, one line per VM process start (vm-process.ts).
async function bootTimes(h: HostLog, vmId: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let text = '';
  try {
    text = await readFile(join(vmPaths(h.simDir, vmId).dir, 'process.log'), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  for (const line of text.split('\n')) {
    const m = /^(\S+) pid \d+ up, boot ([0-9a-f-]+)$/.exec(line);
    if (m !== null) out.set(m[2]!.replace(/-/g, '').slice(0, 16), Date.parse(m[1]!));
  }
  return out;
}

/** The boots of one VM's disk on one host, in log order. */
export async function bootsOn(h: HostLog, vmId: string, diskIndex = 0): Promise<Boot[]> {
  const times = await bootTimes(h, vmId);
  const boots: Boot[] = [];
  let cur: Boot | null = null;
  let maxSeq = 0;
  const atFreeze = new Map<string, number>();
  for await (const e of readChanges(vmPaths(h.simDir, vmId).changeLog(diskIndex))) {
    if (e.t === 'B') {
      const startedAt = times.get(e.b);
      // A writer with no process (the driver writing an Off VM's disk) has no start time: the lab never does that.
      if (startedAt === undefined) throw new Error(`boot ${e.b} of ${vmId} on ${h.host} has no start in process.log`);
      cur = { host: h.host, boot: e.b, startedAt, firstSeq: e.s, lastSeq: e.s - 1, lastMayBeTorn: false, committed: [], writes: [] };
      boots.push(cur);
    } else if (e.t === 'E') {
      if (cur !== null) cur.lastMayBeTorn = false;
    } else if (e.t === 'W' && cur !== null) {
      cur.writes.push({ seq: e.s, offset: e.o, length: e.l, kind: e.k });
      cur.lastSeq = Math.max(cur.lastSeq, e.s);
      cur.lastMayBeTorn = true;
      maxSeq = Math.max(maxSeq, e.s);
    } else if (e.t === 'F') atFreeze.set(e.v, maxSeq);
    else if (e.t === 'C' && cur !== null) cur.committed.push(atFreeze.get(e.v) ?? 0);
  }
  // A boot without an "E" is still running or was killed: its last write may be in flight.
  return boots;
}

/** All boots of the VM on every host, in the order the VM lived them. */
export async function lifeOf(hosts: HostLog[], vmId: string, diskIndex = 0): Promise<Boot[]> {
  const all: Boot[] = [];
  for (const h of hosts) all.push(...(await bootsOn(h, vmId, diskIndex)));
  return all.sort((a, b) => a.startedAt - b.startedAt);
}

type ChainWrite = Boot['writes'][number] & { boot: string; torn: boolean };

/** The writes the VM's life keeps, in order: at each boot, earlier writes numbered from its first number on are superseded. */
function chainOf(life: Boot[]): ChainWrite[] {
  let chain: ChainWrite[] = [];
  for (const b of life) {
    chain = chain.filter((w) => w.seq < b.firstSeq);
    for (const w of b.writes) chain.push({ ...w, boot: b.boot, torn: b.lastMayBeTorn && w.seq === b.lastSeq });
  }
  return chain;
}

export interface Handover {
  from: string;
  to: string;
  /** Highest number the VM had written when the new runner started. */
  lastSeq: number;
  /** Highest number the old runner's host had committed (the peer acknowledged it). */
  acknowledgedSeq: number;
  /** The number the new runner started from (firstSeq - 1). */
  startedFrom: number;
  /** Writes the VM had made that the new runner's copy did not hold (superseded by its first number). */
  lostWrites: number;
}

/** Each change of host in the VM's life: what the old runner had, what the new one started from, what was lost. */
export function handovers(life: Boot[]): Handover[] {
  const out: Handover[] = [];
  let chain: Array<{ seq: number }> = [];
  // What the current runner's host committed over its consecutive boots (its peer acknowledged it).
  let acknowledged = 0;
  let prev: Boot | null = null;
  for (const b of life) {
    const superseded = chain.filter((w) => w.seq >= b.firstSeq).length;
    if (prev !== null && b.host !== prev.host) {
      out.push({ from: prev.host, to: b.host, lastSeq: Math.max(0, ...chain.map((w) => w.seq)), acknowledgedSeq: acknowledged, startedFrom: b.firstSeq - 1, lostWrites: superseded });
      acknowledged = 0;
    }
    chain = [...chain.filter((w) => w.seq < b.firstSeq), ...b.writes];
    for (const c of b.committed) acknowledged = Math.max(acknowledged, c);
    prev = b;
  }
  return out;
}

export interface CopyReport {
  consistent: boolean;
  /** The copy equals the VM's life after writes 1..prefixSeq. */
  prefixSeq: number;
  patternUnits: number;
  mismatches: Array<{ offset: number; expected: number[]; found: number | null }>;
}

/** Checks that a copy of the VM's disk equals its life after exactly writes 1..N (N: the highest number found on it). */
export async function verifyCopy(diskPath: string, vmId: string, life: Boot[], diskIndex = 0, format: 'VHDX' | 'Raw' = 'VHDX'): Promise<CopyReport> {
  const chain = chainOf(life);
  const found = new Map<number, { seq: number; boot: string; ok: boolean }>();
  for (const { offset, unit } of await decodeDiskPattern(diskPath, format)) {
    if (unit.vmId !== vmId) continue;
    const placed = unit.writeOffset + unit.unitIndex * PATTERN_UNIT === offset && unit.diskIndex === diskIndex;
    found.set(offset, { seq: unit.seq, boot: unit.boot, ok: placed && chain.some((w) => w.seq === unit.seq && w.boot === unit.boot) });
  }
  let prefixSeq = 0;
  for (const f of found.values()) if (f.ok) prefixSeq = Math.max(prefixSeq, f.seq);
  const expected = new Map<number, Array<number | null | 'guest'>>();
  for (const w of chain) {
    if (w.seq > prefixSeq) continue;
    for (let u = Math.floor(w.offset / PATTERN_UNIT); u < Math.ceil((w.offset + w.length) / PATTERN_UNIT); u++) {
      const v = w.kind === 'g' ? 'guest' : w.seq;
      expected.set(u * PATTERN_UNIT, w.torn ? [...(expected.get(u * PATTERN_UNIT) ?? [null]), v] : [v]);
    }
  }
  const mismatches: CopyReport['mismatches'] = [];
  let bad = 0;
  for (const offset of new Set([...found.keys(), ...expected.keys()])) {
    const alternatives = expected.get(offset) ?? [null];
    if (alternatives.includes('guest')) continue;
    const f = found.get(offset);
    if (f === undefined ? alternatives.includes(null) : f.ok && alternatives.includes(f.seq)) continue;
    bad += 1;
    if (mismatches.length < 10) mismatches.push({ offset, expected: alternatives.filter((a): a is number => typeof a === 'number'), found: f?.seq ?? null });
  }
  return { consistent: bad === 0, prefixSeq, patternUnits: found.size, mismatches };
}
