import type { VmId } from '../types';
import { readChanges } from './change-log';
import { PATTERN_UNIT, decodePatternUnit, type PatternUnit } from './pattern';
import { readVmRecord, vmPaths } from './store';
import { openVirtualDisk } from './virtual-disk';

// Proving which writes a disk (typically a replica) holds. The source host's change log lists
// every write in sequence order; the disk's pattern units say which write put them there. A
// consistent replica equals the source after exactly writes 1..N for some N, never a mixture.

export interface LoggedWrite {
  seq: number;
  offset: number;
  length: number;
  kind: 'pattern' | 'guest';
}

/** Every write logged for one disk of a VM on its (source) host, in order. */
export async function readWriteLog(stateDir: string, vmId: VmId, diskIndex: number): Promise<LoggedWrite[]> {
  const out: LoggedWrite[] = [];
  for await (const e of readChanges(vmPaths(stateDir, vmId).changeLog(diskIndex))) {
    if (e.t === 'W') out.push({ seq: e.s, offset: e.o, length: e.l, kind: e.k === 'p' ? 'pattern' : 'guest' });
  }
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
  mismatches: Array<{ offset: number; expectedSeq: number | null; foundSeq: number | null; note?: string }>;
}

/**
 * Checks that `diskPath` equals the source disk `diskIndex` of VM `vmId` after writes 1..N, where
 * N = `atSeq` or (absent) the highest sequence number found on the disk. Units last touched by a
 * guestWrite (not a pattern) are not judged.
 */
export async function verifyPatternPrefix(o: { diskPath: string; format: 'VHDX' | 'Raw'; stateDir: string; vmId: VmId; diskIndex: number; atSeq?: number }): Promise<PrefixReport> {
  const found = new Map<number, { seq: number; misplaced: boolean; foreign: boolean }>();
  for (const { offset, unit } of await decodeDiskPattern(o.diskPath, o.format)) {
    const misplaced = unit.writeOffset + unit.unitIndex * PATTERN_UNIT !== offset || unit.diskIndex !== o.diskIndex;
    found.set(offset, { seq: unit.seq, misplaced, foreign: unit.vmId !== o.vmId });
  }
  const prefixSeq = o.atSeq ?? Math.max(0, ...[...found.values()].filter((f) => !f.foreign).map((f) => f.seq));
  const expected = new Map<number, number | 'guest'>();
  for (const w of await readWriteLog(o.stateDir, o.vmId, o.diskIndex)) {
    if (w.seq > prefixSeq) continue;
    const first = Math.floor(w.offset / PATTERN_UNIT);
    const last = Math.ceil((w.offset + w.length) / PATTERN_UNIT);
    for (let u = first; u < last; u++) expected.set(u * PATTERN_UNIT, w.kind === 'pattern' ? w.seq : 'guest');
  }
  const mismatches: PrefixReport['mismatches'] = [];
  let bad = 0;
  for (const offset of new Set([...found.keys(), ...expected.keys()])) {
    const exp = expected.get(offset);
    if (exp === 'guest') continue;
    const f = found.get(offset);
    const ok = f === undefined ? exp === undefined : !f.foreign && !f.misplaced && f.seq === exp;
    if (ok) continue;
    bad += 1;
    if (mismatches.length < 20) {
      mismatches.push({ offset, expectedSeq: exp ?? null, foundSeq: f?.seq ?? null, ...(f?.foreign ? { note: 'another VM wrote it' } : f?.misplaced ? { note: 'unit is at the wrong offset' } : {}) });
    }
  }
  return { consistent: bad === 0, prefixSeq, patternUnits: [...found.values()].filter((f) => !f.foreign).length, mismatches };
}
