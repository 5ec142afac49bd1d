import { ReplicationError } from '../../errors';
import { SECTOR_BITMAP_BLOCK_SIZE } from './constants';
import type { VhdxFile } from './file-io';
import { vhdxContext, vhdxInvalid } from './file-io';
import type { BatReadOptions } from './bat';
import { batReader, bitmapBatIndex, payloadBatIndex } from './bat';
import type { FileExtent, VhdxLayout } from './layout';

// Maps virtual-disk byte ranges (what Resilient Change Tracking reports) to the file extents that
// hold those bytes. Blocks that are not present map to nothing: their BAT entry travels with the
// BAT region, and they read as zeros (or from the parent). Retained blocks (UNDEFINED/UNMAPPED
// with an offset) map to their old bytes, since a reader may return them.

/** A byte range of the virtual disk. */
export interface VirtualRange {
  readonly offset: number;
  readonly length: number;
}

/** Sorts extents and merges the overlapping or touching ones. */
export function mergeExtents(extents: FileExtent[]): FileExtent[] {
  const sorted = [...extents].filter((e) => e.length > 0).sort((a, b) => a.offset - b.offset);
  const out: Array<{ offset: number; length: number }> = [];
  for (const e of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && e.offset <= last.offset + last.length) last.length = Math.max(last.length, e.offset + e.length - last.offset);
    else out.push({ offset: e.offset, length: e.length });
  }
  return out;
}

function checkRange(layout: VhdxLayout, r: VirtualRange): void {
  const ok = Number.isSafeInteger(r.offset) && Number.isSafeInteger(r.length) && r.offset >= 0 && r.length >= 0 && r.offset + r.length <= layout.virtualDiskSize;
  if (!ok) {
    const ctx = vhdxContext(layout.path);
    throw new ReplicationError('RANGE_INVALID', `${ctx.name}: virtual range at offset ${r.offset} of length ${r.length} lies outside the ${layout.virtualDiskSize}-byte virtual disk`, {
      details: { path: layout.path, offset: r.offset, length: r.length, virtualDiskSize: layout.virtualDiskSize },
    });
  }
}

/** File extents (merged, sorted) holding the bytes of the given virtual ranges; reads BAT entries on demand. */
export async function mapVirtualRanges(layout: VhdxLayout, file: VhdxFile, ranges: readonly VirtualRange[], options: BatReadOptions & { cacheChunks?: number } = {}): Promise<FileExtent[]> {
  for (const r of ranges) checkRange(layout, r);
  const bat = batReader(layout, file, options);
  const ctx = vhdxContext(layout.path);
  const out: FileExtent[] = [];
  const bitmapsDone = new Set<number>();
  // Sorted input walks the BAT forwards, so the chunk cache stays warm.
  const sorted = [...ranges].sort((a, b) => a.offset - b.offset);
  for (const r of sorted) {
    let pos = r.offset;
    const end = r.offset + r.length;
    while (pos < end) {
      const block = Math.floor(pos / layout.blockSize);
      const inBlock = pos - block * layout.blockSize;
      const n = Math.min(layout.blockSize - inBlock, end - pos);
      const e = await bat.entry(payloadBatIndex(layout, block));
      if (e.presence === 'full' || e.presence === 'partial' || e.presence === 'retained') out.push({ offset: e.fileOffset + inBlock, length: n });
      if (e.presence === 'partial') {
        const chunk = Math.floor(block / layout.chunkRatio);
        if (!bitmapsDone.has(chunk)) {
          bitmapsDone.add(chunk);
          const sb = await bat.entry(bitmapBatIndex(layout, chunk));
          if (sb.presence !== 'present') throw vhdxInvalid(ctx, 'bat', `payload block ${block} is PARTIALLY_PRESENT but its sector bitmap block ${chunk} is not present`, { block, chunk });
          out.push({ offset: sb.fileOffset, length: SECTOR_BITMAP_BLOCK_SIZE });
        }
      }
      pos += n;
    }
  }
  // After a log replay a block may reach past the current end of the file; that part reads as zeros.
  return mergeExtents(out.map((e) => ({ offset: e.offset, length: Math.max(0, Math.min(e.offset + e.length, layout.fileSize) - e.offset) })));
}
