import type { VmId } from '../types';
import { readChanges } from './change-log';
import { PATTERN_UNIT, decodePatternUnit, type PatternUnit } from './pattern';
import { readVmRecord, vmPaths } from './store';
import { openVirtualDisk } from './virtual-disk';

// Proving which writes a disk (typically a replica) holds. The source host's change log lists
// every write in sequence order; the disk's pattern units say which write (number and boot) put
// them there. A consistent replica equals the source after exactly writes 1..N, never a mixture.

export interface LoggedWrite {
  seq: number;
  offset: number;
  length: number;
  kind: 'pattern' | 'guest';
  /** Boot tag of the writer (16 hex digits), null in logs older than boot markers. */
  boot: string | null;
  /** The writer was killed with this write possibly in flight (logged before its bytes landed). */
  mayBeTorn: boolean;
}

/** Every write logged for one disk of a VM on a host, in order. */
export async function readWriteLog(stateDir: string, vmId: VmId, diskIndex: number): Promise<LoggedWrite[]> {
  const out: LoggedWrite[] = [];
  let boot: string | null = null;
  let lastOfBoot: LoggedWrite | null = null;
  for await (const e of readChanges(vmPaths(stateDir, vmId).changeLog(diskIndex))) {
    if (e.t === 'B') {
      if (lastOfBoot !== null) lastOfBoot.mayBeTorn = true;
      lastOfBoot = null;
      boot = e.b;
    } else if (e.t === 'E') lastOfBoot = null;
    else if (e.t === 'W') {
      lastOfBoot = { seq: e.s, offset: e.o, length: e.l, kind: e.k === 'p' ? 'pattern' : 'guest', boot, mayBeTorn: false };
      out.push(lastOfBoot);
    }
  }
  // A writer still running (or killed) may have its last write in flight.
  if (lastOfBoot !== null) lastOfBoot.mayBeTorn = true;
  return out;
}

/** The last write sequence number logged before the frozen view `viewId` was taken (what its read paths hold). */
export async function sequenceAtView(stateDir: string, vmId: VmId, viewId: string): Promise<number> {
  const record = readVmRecord(stateDir, vmId);
  let max = 0;
  let seen = false;
  for (const i of record?.disks.keys() ?? []) {
    for await (const e of readChanges(vmPaths(stateDir, vmId).changeLog(i))) {
      if (e.t === 'F' && e.v === viewId) {
        seen = true;
        break;
      }
      if (e.t === 'W' && e.s > max) max = e.s;
    }
  }
  if (!seen) throw new Error(`view ${viewId} is not in VM ${vmId}'s change logs`);
  return max;
}

/**
 * The views of one disk frozen after write `seq` was logged (so their read paths hold it), in
 * order, and whether each was committed (released with commit: the peer acknowledged it). Lets a
 * test wait for "a replicated generation that contains the guest's last write" as an event.
 */
export async function viewsAfterWrite(stateDir: string, vmId: VmId, diskIndex: number, seq: number): Promise<Array<{ viewId: string; committed: boolean }>> {
  const out: Array<{ viewId: string; committed: boolean }> = [];
  let written = false;
  for await (const e of readChanges(vmPaths(stateDir, vmId).changeLog(diskIndex))) {
    if (e.t === 'W' && e.s === seq) written = true;
    else if (e.t === 'F' && written) out.push({ viewId: e.v, committed: false });
    else if (e.t === 'C') for (const v of out) if (v.viewId === e.v) v.committed = true;
  }
  return out;
}

/** Decodes every intact pattern unit of a disk's virtual content (read in 1 MiB steps). */
export async function decodeDiskPattern(path: string, format: 'VHDX' | 'Raw'): Promise<Array<{ offset: number; unit: PatternUnit }>> {
  const disk = await openVirtualDisk(path, format, 'r');
  const out: Array<{ offset: number; unit: PatternUnit }> = [];
  try {
    const step = 256 * PATTERN_UNIT;
    for (let pos = 0; pos + PATTERN_UNIT <= disk.sizeBytes; pos += step) {
      const n = Math.min(step, Math.floor((disk.sizeBytes - pos) / PATTERN_UNIT) * PATTERN_UNIT);
      const buf = await disk.read(pos, n);
      for (let u = 0; u < n; u += PATTERN_UNIT) {
        const unit = decodePatternUnit(buf.subarray(u, u + PATTERN_UNIT));
        if (unit !== null) out.push({ offset: pos + u, unit });
      }
    }
  } finally {
    await disk.close();
  }
  return out;
}

export interface PrefixReport {
  /** True when the disk holds exactly the result of writes 1..prefixSeq. */
  consistent: boolean;
  prefixSeq: number;
  /** Pattern units of this VM found on the disk. */
  patternUnits: number;
  /** Units whose content is not what writes 1..prefixSeq leave there (first 20). */
  mismatches: Array<{ offset: number; expectedSeq: number[]; foundSeq: number | null; note?: string }>;
}

/**
 * Where a VM's write history lives: one host's log, or several in order (after a failover) each up
 * to a sequence number; `boots` keeps only the writes of those writer runs (after a failback, the
 * returned host's log also holds its own lost writes, which are not part of the history).
 */
export type WriteHistory = Array<{ stateDir: string; throughSeq?: number; boots?: Array<string | null> }>;

type Expect = { seq: number; boot: string | null } | 'guest' | null;

/**
 * Checks that `diskPath` equals disk `diskIndex` of VM `vmId` after writes 1..N of its history,
 * N = `atSeq` or (absent) the highest sequence number found on the disk. Units last touched by a
 * guestWrite (not a pattern) are not judged; a write that may have been in flight when its writer
 * was killed may be present or absent.
 */
export async function verifyPatternPrefix(o: { diskPath: string; format: 'VHDX' | 'Raw'; vmId: VmId; diskIndex: number; atSeq?: number; stateDir?: string; history?: WriteHistory }): Promise<PrefixReport> {
  const found = new Map<number, { unit: PatternUnit; misplaced: boolean; foreign: boolean }>();
  for (const { offset, unit } of await decodeDiskPattern(o.diskPath, o.format)) {
    const misplaced = unit.writeOffset + unit.unitIndex * PATTERN_UNIT !== offset || unit.diskIndex !== o.diskIndex;
    found.set(offset, { unit, misplaced, foreign: unit.vmId !== o.vmId });
  }
  let prefixSeq = o.atSeq ?? 0;
  if (o.atSeq === undefined) for (const f of found.values()) if (!f.foreign && f.unit.seq > prefixSeq) prefixSeq = f.unit.seq;
  const history: WriteHistory = o.history ?? (o.stateDir !== undefined ? [{ stateDir: o.stateDir }] : []);
  if (history.length === 0) throw new Error('verifyPatternPrefix needs stateDir or history');
  const writes: LoggedWrite[] = [];
  for (const h of history) {
    for (const w of await readWriteLog(h.stateDir, o.vmId, o.diskIndex)) {
      if ((h.throughSeq === undefined || w.seq <= h.throughSeq) && (h.boots === undefined || h.boots.includes(w.boot))) writes.push(w);
    }
  }
  // Guest writes leave no number on the disk: when N is only inferred, those logged right after it
  // (before the next pattern write) may be there or not, and their units are not judged.
  let nextPattern = o.atSeq !== undefined ? prefixSeq + 1 : Infinity;
  if (o.atSeq === undefined) for (const w of writes) if (w.kind === 'pattern' && w.seq > prefixSeq && w.seq < nextPattern) nextPattern = w.seq;
  const expected = new Map<number, Expect[]>();
  for (const w of writes) {
    if (w.seq > prefixSeq && !(w.kind === 'guest' && w.seq < nextPattern)) continue;
    const value: Expect = w.kind === 'pattern' ? { seq: w.seq, boot: w.boot } : 'guest';
    const first = Math.floor(w.offset / PATTERN_UNIT);
    const last = Math.ceil((w.offset + w.length) / PATTERN_UNIT);
    for (let u = first; u < last; u++) {
      const before = expected.get(u * PATTERN_UNIT) ?? [null];
      expected.set(u * PATTERN_UNIT, w.mayBeTorn ? [...before, value] : [value]);
    }
  }
  const mismatches: PrefixReport['mismatches'] = [];
  let bad = 0;
  for (const offset of new Set([...found.keys(), ...expected.keys()])) {
    const alternatives = expected.get(offset) ?? [null];
    if (alternatives.includes('guest')) continue;
    const f = found.get(offset);
    const ok = f === undefined
      ? alternatives.includes(null)
      : !f.foreign && !f.misplaced && alternatives.some((a) => a !== null && a !== 'guest' && a.seq === f.unit.seq && (a.boot === null || a.boot === f.unit.boot));
    if (ok) continue;
    bad += 1;
    if (mismatches.length < 20) {
      const expectedSeq = alternatives.flatMap((a) => (a !== null && a !== 'guest' ? [a.seq] : []));
      const note = f?.foreign ? 'another VM wrote it' : f?.misplaced ? 'unit is at the wrong offset' : f !== undefined && expectedSeq.includes(f.unit.seq) ? 'same number, another boot' : undefined;
      mismatches.push({ offset, expectedSeq, foundSeq: f?.unit.seq ?? null, ...(note === undefined ? {} : { note }) });
    }
  }
  return { consistent: bad === 0, prefixSeq, patternUnits: [...found.values()].filter((f) => !f.foreign).length, mismatches };
}
