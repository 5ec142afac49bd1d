import type { FileHandle } from 'node:fs/promises';

// How the sender sees one source file: which blocks hold live data, which always travel, and how
// a platform's changed ranges map to file bytes. Raw files: every block, identity mapping.
// VHDX files: see vhdx-layout.ts (only referenced regions and allocated blocks).

/** A half-open run of block indexes [start, end). */
export type BlockRun = [number, number];

export interface FileLayout {
  mode: 'vhdx' | 'raw';
  size: number;
  /** The VHDX header's DataWriteGuid (changes before any visible data write); null for raw. */
  dataWriteGuid: string | null;
  /** Runs of blocks that hold live data, ascending, non-overlapping. */
  referencedRuns(blockSize: number): BlockRun[];
  /** Runs always shipped in change-tracking mode (VHDX headers, log, BAT, metadata), ascending. */
  structuralRuns(blockSize: number): BlockRun[];
  /** File byte extents holding the given changed ranges (virtual offsets for VHDX, file offsets for raw). */
  mapChanges(ranges: Array<{ offset: number; length: number }>): Promise<Array<{ offset: number; length: number }>>;
  /** Whether block `index` holds live data. */
  isReferenced(index: number, blockSize: number): boolean;
  /** VHDX: the structures' byte extents (header section, log, regions), fingerprinted to detect a changing source; raw: null. */
  structureExtents: Array<{ offset: number; length: number }> | null;
  /** What changed in the file since it was opened, in words (source-fingerprint.ts); empty when nothing did. */
  changesSinceOpen(): Promise<string[]>;
  /** The opened file as `${dev}:${ino}` (hash requests carry it, so workers read this file, not whatever the path names later). */
  identity: string;
  close(): Promise<void>;
}

/** Layout of a plain file: all of it is data. (`changesSinceOpen` and `identity` are filled in by openLayout.) */
export function rawLayout(fh: FileHandle, size: number): Omit<FileLayout, 'changesSinceOpen' | 'identity'> {
  return {
    mode: 'raw',
    size,
    dataWriteGuid: null,
    referencedRuns: (blockSize) => (size === 0 ? [] : [[0, Math.ceil(size / blockSize)]]),
    structuralRuns: () => [],
    mapChanges: async (ranges) =>
      ranges
        .map((r) => ({ offset: Math.max(0, r.offset), length: Math.min(r.offset + r.length, size) - Math.max(0, r.offset) }))
        .filter((r) => r.length > 0),
    isReferenced: (index, blockSize) => index * blockSize < size,
    structureExtents: null,
    close: () => fh.close(),
  };
}

/** Turns sorted-or-not byte extents into ascending, merged block runs. */
export function extentsToRuns(extents: Array<{ offset: number; length: number }>, blockSize: number): BlockRun[] {
  const runs = extents
    .filter((e) => e.length > 0)
    .map((e): BlockRun => [Math.floor(e.offset / blockSize), Math.ceil((e.offset + e.length) / blockSize)])
    .sort((a, b) => a[0] - b[0]);
  return mergeRuns(runs);
}

/** Merges ascending-by-start runs into non-overlapping ones. */
export function mergeRuns(runs: BlockRun[]): BlockRun[] {
  const out: BlockRun[] = [];
  for (const r of [...runs].sort((a, b) => a[0] - b[0])) {
    const last = out[out.length - 1];
    if (last !== undefined && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}
