import { ReplicationError } from '../../errors';
import type { ManifestMerger } from '../manifest/manifest-merge';
import { BlockSet } from './block-set';
import type { BlockRun, FileLayout } from './file-layout';

// Which blocks a cycle reads (candidates) and how they are grouped into worker requests (chunks).

/** Changed ranges of one source: an array (from the hypervisor) or a stream (a big --changed-ranges file). */
export type ChangedRangeSource = Iterable<{ offset: number; length: number }> | AsyncIterable<{ offset: number; length: number }>;

/** Ranges are mapped to file extents this many at a time: memory does not grow with their number. */
const RANGE_BATCH = 1 << 16;

// Scan mode: every live block. Change-tracking mode: the blocks the changes map to, the VHDX
// structures that always travel, and the tail blocks a size change makes unknown on the replica,
// gathered in a bitset (one bit per block) rather than arrays, since there may be millions of ranges.
export async function candidateRuns(layout: FileLayout, B: number, merger: ManifestMerger, changed: ChangedRangeSource | undefined): Promise<Iterable<BlockRun>> {
  if (changed === undefined) return layout.referencedRuns(B);
  const set = new BlockSet(Math.ceil(layout.size / B));
  let batch: Array<{ offset: number; length: number }> = [];
  const flush = async (): Promise<void> => {
    // Merged first: mapping walks every VHDX block a range covers, so a file repeating a range (or
    // overlapping ones) would cost its whole length again for each copy, not once per batch.
    for (const e of await layout.mapChanges(mergeRanges(batch))) set.addExtent(e.offset, e.length, B);
    batch = [];
  };
  for await (const r of changed) {
    if (!Number.isSafeInteger(r.offset) || !Number.isSafeInteger(r.length) || r.offset < 0 || r.length < 0) {
      throw new ReplicationError('RANGE_INVALID', `changed range ${r.offset}+${r.length} is not a valid byte range`);
    }
    batch.push({ offset: r.offset, length: r.length });
    if (batch.length >= RANGE_BATCH) await flush();
  }
  await flush();
  for (const [s, e] of layout.structuralRuns(B)) set.addRun(s, e);
  for (let i = merger.keep; i < merger.newCount; i++) if (layout.isReferenced(i, B)) set.addRun(i, i + 1);
  return set.runs();
}

export interface Chunk {
  /** Block runs [start, end) read back to back as one chunk, ascending. */
  runs: BlockRun[];
}

// Groups block runs into chunks of at most `chunkBytes` (lazily), never past the end of the file.
// Long runs are split; short ones (change tracking: scattered blocks) share a chunk, so each
// worker message carries many blocks.
export function* chunkRuns(runs: Iterable<BlockRun>, B: number, size: number, chunkBytes: number): Generator<Chunk, void> {
  const per = Math.max(1, Math.floor(chunkBytes / B));
  const last = Math.ceil(size / B);
  let current: BlockRun[] = [];
  let blocks = 0;
  for (const [s, e] of runs) {
    for (let start = s; start < Math.min(e, last); ) {
      const end = Math.min(start + (per - blocks), e, last);
      current.push([start, end]);
      blocks += end - start;
      start = end;
      if (blocks === per) {
        yield { runs: current };
        current = [];
        blocks = 0;
      }
    }
  }
  if (current.length > 0) yield { runs: current };
}

/**
 * Sorts byte ranges and merges the overlapping or touching ones (a batch, so the sort is bounded).
 * Empty ranges are kept unless inside another: the layout still refuses one outside the disk.
 */
export function mergeRanges(ranges: Array<{ offset: number; length: number }>): Array<{ offset: number; length: number }> {
  const out: Array<{ offset: number; length: number }> = [];
  for (const r of [...ranges].sort((a, b) => a.offset - b.offset)) {
    const last = out[out.length - 1];
    if (last !== undefined && r.offset <= last.offset + last.length) last.length = Math.max(last.length, r.offset + r.length - last.offset);
    else out.push({ offset: r.offset, length: r.length });
  }
  return out;
}
