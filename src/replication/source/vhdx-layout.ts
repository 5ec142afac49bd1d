import type { FileHandle } from 'node:fs/promises';
import { mapVirtualRanges, readVhdxLayout, referencedMap } from '../vhdx';
import { extentsToRuns, mergeRuns, type BlockRun, type FileLayout } from './file-layout';

const MiB = 1 << 20;

// A VHDX source: only the live parts of the file count (header section, log, BAT, metadata,
// allocated payload and sector-bitmap blocks); not-present blocks cost nothing. Changed ranges
// from Hyper-V are virtual-disk offsets and are mapped through the BAT to file ranges.

/** Parses the VHDX (refusing a corrupt one) and exposes it as a FileLayout. */
export async function vhdxLayout(fh: FileHandle, path: string, size: number): Promise<Omit<FileLayout, 'changesSinceOpen' | 'identity'>> {
  const layout = await readVhdxLayout(fh, { path });
  const map = await referencedMap(layout, fh);
  const structural = [
    { offset: 0, length: MiB },
    layout.log,
    ...layout.regions.map((r) => ({ offset: r.fileOffset, length: r.length })),
  ].map((e) => ({ offset: e.offset, length: Math.max(0, Math.min(e.offset + e.length, size) - e.offset) }));
  return {
    mode: 'vhdx',
    size,
    dataWriteGuid: layout.dataWriteGuid,
    referencedRuns: (blockSize) => mergeRuns([...map.extents()].map((e): BlockRun => [Math.floor(e.offset / blockSize), Math.ceil((e.offset + e.length) / blockSize)])),
    structuralRuns: (blockSize) => extentsToRuns(structural, blockSize),
    mapChanges: async (ranges) => (await mapVirtualRanges(layout, fh, ranges)).map((e) => ({ offset: e.offset, length: e.length })),
    isReferenced: (index, blockSize) => {
      const first = Math.floor((index * blockSize) / MiB);
      const end = Math.ceil(Math.min((index + 1) * blockSize, size) / MiB);
      for (let u = first; u < Math.max(end, first + 1); u++) if (map.isReferenced(u)) return true;
      return false;
    },
    structureExtents: structural.filter((e) => e.length > 0),
    close: () => fh.close(),
  };
}
