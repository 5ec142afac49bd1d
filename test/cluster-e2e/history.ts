import { readChanges } from '../../src/hypervisor/simulated/change-log';
import { decodeDiskPattern, PATTERN_UNIT } from '../../src/hypervisor/simulated';
import { vmPaths } from '../../src/hypervisor/simulated/store';

// A VM's write history across failovers, from the hosts' own change logs (nothing the agents say).
// Every run of the guest writer (a "boot") logs its boot tag and first sequence number; a VM that
// starts on the peer continues from the highest number on the copy it starts from. So the boots of
// both hosts, ordered by first number, are the VM's life, and a boot's writes at or past the next
// boot's first number never reached a copy that went on running: those are the writes lost.
// (verifyPatternPrefix's history takes whole host logs; after a failback a host's log holds both
// its kept and its discarded writes, so the cluster suite needs this boot-wise chain.)

export interface Boot {
  host: string;
  boot: string;
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

/** The boots of one VM's disk on one host, in log order. */
export async function bootsOn(h: HostLog, vmId: string, diskIndex = 0): Promise<Boot[]> {
  const boots: Boot[] = [];
  let cur: Boot | null = null;
  let maxSeq = 0;
  const atFreeze = new Map<string, number>();
  for await (const e of readChanges(vmPaths(h.simDir, vmId).changeLog(diskIndex))) {
    if (e.t === 'B') {
      cur = { host: h.host, boot: e.b, firstSeq: e.s, lastSeq: e.s - 1, lastMayBeTorn: false, committed: [], writes: [] };
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
  return all.sort((a, b) => a.firstSeq - b.firstSeq);
}

/** Where the boot after `i` took over (its first number), Infinity for the last. */
function endOf(life: Boot[], i: number): number {
  for (let j = i + 1; j < life.length; j++) if (life[j]!.firstSeq > life[i]!.firstSeq) return life[j]!.firstSeq;
  return Infinity;
}

export interface Handover {
  from: string;
  to: string;
  /** Highest number the old runner logged. */
  lastSeq: number;
  /** Highest number the old runner's host had committed (the peer acknowledged it). */
  acknowledgedSeq: number;
  /** The number the new runner started from (firstSeq - 1). */
  startedFrom: number;
  lostWrites: number;
}

/** Each change of host in the VM's life: what the old runner had, what the new one started from. */
export function handovers(life: Boot[]): Handover[] {
  const out: Handover[] = [];
  // What the current runner's host had committed over its consecutive boots.
  let prev: Boot | null = null;
  let acknowledged = 0;
  for (const b of life) {
    if (prev !== null && b.host !== prev.host) {
      const startedFrom = b.firstSeq - 1;
      out.push({ from: prev.host, to: b.host, lastSeq: prev.lastSeq, acknowledgedSeq: acknowledged, startedFrom, lostWrites: Math.max(0, prev.lastSeq - startedFrom) });
      acknowledged = 0;
    }
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
  // The chain: each boot's writes below the next boot's first number, tagged with the boot.
  const chain: Array<{ seq: number; offset: number; length: number; kind: 'p' | 'g'; boot: string; torn: boolean }> = [];
  for (const [i, b] of life.entries()) {
    const end = endOf(life, i);
    for (const w of b.writes) if (w.seq < end) chain.push({ ...w, boot: b.boot, torn: b.lastMayBeTorn && w.seq === b.lastSeq });
  }
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
