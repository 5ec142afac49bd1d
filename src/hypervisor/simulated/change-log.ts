import { appendFileSync, createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { HypervisorError } from '../../errors';

// Change tracking like RCT: one append-only JSON-lines log per disk. A write is logged BEFORE its
// bytes land (a crash leaves a superset, never a gap). A freeze appends a marker `F`; committing
// that view appends `C`, which turns the marker into a reference point (epoch) whose id is
// `simrct:<viewId>`. Ranges changed since a reference = the writes between its `F` and the `F`
// of the view being read.

export type ChangeEntry =
  | { t: 'W'; s: number; o: number; l: number; k: 'p' | 'g' }
  | { t: 'F'; v: string }
  | { t: 'C'; v: string }
  | { t: 'X'; v: string }
  /** A new writer (VM process boot, or the driver on an off VM) starts: its boot tag and first sequence number. */
  | { t: 'B'; b: string; s: number }
  /** The writer stopped cleanly: its last write is complete. */
  | { t: 'E' }
  /** The disk's write stamp after our own writes (DataWriteGuid, or raw size+mtime). */
  | { t: 'S'; g: string }
  /** The disk was written by someone else (a resync, a hand edit): every earlier reference is void. */
  | { t: 'I' };

const RCT_PREFIX = 'simrct:';

/** The reference id handed out for a committed view. */
export function rctIdOf(viewId: string): string {
  return `${RCT_PREFIX}${viewId}`;
}

/** Appends one entry (a single write(2) on an O_APPEND file, so the VM process and the driver may both append). */
export function appendChange(logPath: string, entry: ChangeEntry): void {
  appendFileSync(logPath, JSON.stringify(entry) + '\n');
}

/** Streams the entries of a log in order; an unreadable line (torn by a crash) comes out as `{ t: 'bad' }`. */
export async function* readChanges(logPath: string): AsyncGenerator<ChangeEntry | { t: 'bad' }> {
  const stream = createReadStream(logPath, { encoding: 'utf8' });
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      if (line === '') continue;
      let e: ChangeEntry | undefined;
      try {
        e = JSON.parse(line) as ChangeEntry;
      } catch {
        e = undefined;
      }
      yield e !== undefined && e !== null && typeof e === 'object' && ['W', 'F', 'C', 'X', 'B', 'E', 'S', 'I'].includes(e.t) ? e : { t: 'bad' };
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  } finally {
    lines.close();
    stream.destroy();
  }
}

/** Sorted, merged ranges. */
export function mergeRanges(ranges: Array<{ offset: number; length: number }>): Array<{ offset: number; length: number }> {
  const sorted = ranges.filter((r) => r.length > 0).map((r) => ({ offset: r.offset, length: r.length })).sort((a, b) => a.offset - b.offset);
  const out: Array<{ offset: number; length: number }> = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.offset <= last.offset + last.length) last.length = Math.max(last.length, r.offset + r.length - last.offset);
    else out.push(r);
  }
  return out;
}

function unavailable(message: string, details: Record<string, unknown>): HypervisorError {
  return new HypervisorError('RCT_UNAVAILABLE', message, { details });
}

/** Virtual ranges written after the committed reference `sinceRctId` and before view `untilViewId` was frozen. */
export async function changesBetween(logPath: string, sinceRctId: string, untilViewId: string): Promise<Array<{ offset: number; length: number }>> {
  if (!sinceRctId.startsWith(RCT_PREFIX)) throw unavailable(`not a simulated reference: ${JSON.stringify(sinceRctId)}`, { rctId: sinceRctId });
  const since = sinceRctId.slice(RCT_PREFIX.length);
  let state: 'before' | 'inside' | 'done' = 'before';
  let committed = false;
  let pruned = false;
  let damaged = false;
  let ranges: Array<{ offset: number; length: number }> = [];
  try {
    for await (const e of readChanges(logPath)) {
      // A torn line inside the interval may have been a write: the answer would be short.
      if (e.t === 'bad' && state === 'inside') damaged = true;
      if (e.t === 'I' && state === 'inside') damaged = true;
      if (e.t === 'C' && e.v === since) committed = true;
      if (e.t === 'X' && e.v === since) pruned = true;
      if (e.t === 'F' && e.v === since && state === 'before') state = 'inside';
      else if (e.t === 'F' && e.v === untilViewId && state === 'inside') state = 'done';
      else if (e.t === 'W' && state === 'inside') {
        ranges.push({ offset: e.o, length: e.l });
        if (ranges.length > 4096) ranges = mergeRanges(ranges);
      }
    }
  } catch (err) {
    throw unavailable(`change log unreadable: ${(err as Error).message}`, { rctId: sinceRctId });
  }
  if (!committed || pruned) throw unavailable(`unknown or pruned reference ${sinceRctId}`, { rctId: sinceRctId });
  if (damaged) throw unavailable(`change log ${logPath} is damaged, or the disk was written outside the VM, between ${sinceRctId} and view ${untilViewId}`, { rctId: sinceRctId });
  if (state !== 'done') throw unavailable(`reference ${sinceRctId} does not precede the view ${untilViewId}`, { rctId: sinceRctId, viewId: untilViewId });
  return mergeRanges(ranges);
}

/** The last write stamp recorded in a log (null when none). */
export async function lastStamp(logPath: string): Promise<string | null> {
  let g: string | null = null;
  for await (const e of readChanges(logPath)) if (e.t === 'S') g = e.g;
  return g;
}

/** Highest write sequence number logged (null when nothing was ever written): where a restarted VM continues. */
export async function lastSequence(logPaths: string[]): Promise<number | null> {
  let max: number | null = null;
  for (const p of logPaths) {
    for await (const e of readChanges(p)) {
      if (e.t === 'W' && (max === null || e.s > max)) max = e.s;
      if (e.t === 'B' && (max === null || e.s - 1 > max)) max = e.s - 1;
    }
  }
  return max;
}
