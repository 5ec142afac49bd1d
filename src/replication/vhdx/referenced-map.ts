import { HEADER_SECTION_SIZE, MiB } from './constants';
import type { VhdxFile } from './file-io';
import { vhdxContext, vhdxInvalid } from './file-io';
import type { BatReadOptions } from './bat';
import { entryLength, scanBat } from './bat';
import type { FileExtent, VhdxLayout } from './layout';

// Which 1 MiB units of the FILE hold live data: header section, log, BAT, metadata (and any other
// region), present payload blocks and present sector-bitmap blocks. One bit per MiB of file.

export type ReferencedKind = 'header' | 'log' | 'bat' | 'metadata' | 'otherRegion' | 'payload' | 'retainedPayload' | 'sectorBitmap';

/** The referenced parts of a VHDX file, at 1 MiB granularity. */
export interface ReferencedMap {
  readonly unitSize: number;
  readonly unitCount: number;
  readonly fileSize: number;
  /** Bytes referenced by each kind of structure (they never overlap). */
  readonly bytesByKind: Readonly<Record<ReferencedKind, number>>;
  readonly presentPayloadBlocks: number;
  readonly presentSectorBitmapBlocks: number;
  /** UNDEFINED/UNMAPPED blocks that still name their old file space (kept, conservatively). */
  readonly retainedPayloadBlocks: number;
  isReferenced(unit: number): boolean;
  /** Number of referenced 1 MiB units. */
  countReferenced(): number;
  /** Referenced bytes (units clipped to the file's end). */
  referencedBytes(): number;
  /** Merged referenced extents, in increasing file order. */
  extents(): IterableIterator<FileExtent>;
}

const POPCOUNT = new Uint8Array(256).map((_, i) => {
  let n = 0;
  for (let v = i; v; v >>= 1) n += v & 1;
  return n;
});

/** Builds the referenced map by scanning the BAT in bounded chunks; throws VHDX_INVALID on overlaps or out-of-file blocks. */
export async function referencedMap(layout: VhdxLayout, file: VhdxFile, options: BatReadOptions = {}): Promise<ReferencedMap> {
  const ctx = vhdxContext(layout.path);
  const unitCount = Math.ceil(layout.fileSize / MiB);
  const bits = new Uint8Array(Math.ceil(unitCount / 8));
  const bytesByKind: Record<ReferencedKind, number> = { header: 0, log: 0, bat: 0, metadata: 0, otherRegion: 0, payload: 0, retainedPayload: 0, sectorBitmap: 0 };
  let payloadBlocks = 0;
  let bitmapBlocks = 0;
  let retainedBlocks = 0;

  // Returns the first already-set unit in the range (an overlap), or -1; sets the range either way.
  // Ranges are clipped to the file: after a log replay a block may lie in the part the replay adds.
  function mark(kind: ReferencedKind, offset: number, length: number): number {
    const first = Math.floor(offset / MiB);
    const end = Math.ceil(Math.max(offset, Math.min(offset + length, layout.fileSize)) / MiB);
    let clash = -1;
    for (let u = first; u < end; u++) {
      const m = 1 << (u & 7);
      if (bits[u >> 3]! & m) clash = clash < 0 ? u : clash;
      bits[u >> 3]! |= m;
    }
    bytesByKind[kind] += Math.max(0, Math.min(offset + length, layout.fileSize) - offset);
    return clash;
  }

  mark('header', 0, HEADER_SECTION_SIZE);
  if (layout.log.length > 0) mark('log', layout.log.offset, layout.log.length);
  for (const r of layout.regions) mark(r.kind === 'other' ? 'otherRegion' : r.kind, r.fileOffset, r.length);

  await scanBat(
    layout,
    file,
    (e) => {
      if (e.presence === 'absent') return;
      if (e.presence === 'retained') {
        retainedBlocks++;
        return;
      }
      const kind: ReferencedKind = e.kind === 'sectorBitmap' ? 'sectorBitmap' : 'payload';
      if (kind === 'payload') payloadBlocks++;
      else bitmapBlocks++;
      const clash = mark(kind, e.fileOffset, entryLength(layout, e));
      if (clash >= 0) {
        throw vhdxInvalid(ctx, 'bat', `${kind === 'sectorBitmap' ? 'sector bitmap block' : 'payload block'} ${e.number} (BAT entry ${e.index}) at offset ${e.fileOffset} overlaps another block at ${clash * MiB}`, { index: e.index, fileOffset: e.fileOffset });
      }
    },
    options,
  );
  // Retained blocks are optional old contents: a second pass adds only the units nothing live holds,
  // so they can never make a file invalid and bytes are never counted twice.
  if (retainedBlocks > 0) {
    await scanBat(
      layout,
      file,
      (e) => {
        if (e.presence !== 'retained') return;
        const end = Math.min(e.fileOffset + entryLength(layout, e), layout.fileSize);
        for (let u = Math.floor(e.fileOffset / MiB); u * MiB < end; u++) {
          const m = 1 << (u & 7);
          if (bits[u >> 3]! & m) continue;
          bits[u >> 3]! |= m;
          bytesByKind.retainedPayload += Math.min((u + 1) * MiB, end) - u * MiB;
        }
      },
      options,
    );
  }

  let count = 0;
  for (const b of bits) count += POPCOUNT[b]!;
  const isReferenced = (unit: number): boolean => unit >= 0 && unit < unitCount && (bits[unit >> 3]! & (1 << (unit & 7))) !== 0;

  function* extents(): IterableIterator<FileExtent> {
    let u = 0;
    while (u < unitCount) {
      if (bits[u >> 3] === 0 && (u & 7) === 0) {
        u += 8;
        continue;
      }
      if (!isReferenced(u)) {
        u++;
        continue;
      }
      const start = u;
      while (u < unitCount) {
        if ((u & 7) === 0 && bits[u >> 3] === 0xff) u += 8;
        else if (isReferenced(u)) u++;
        else break;
      }
      const end = Math.min(u, unitCount);
      yield { offset: start * MiB, length: Math.min(end * MiB, layout.fileSize) - start * MiB };
      u = end;
    }
  }

  const lastUnitBytes = layout.fileSize - (unitCount - 1) * MiB;
  return Object.freeze({
    unitSize: MiB,
    unitCount,
    fileSize: layout.fileSize,
    bytesByKind: Object.freeze({ ...bytesByKind }),
    presentPayloadBlocks: payloadBlocks,
    presentSectorBitmapBlocks: bitmapBlocks,
    retainedPayloadBlocks: retainedBlocks,
    isReferenced,
    countReferenced: () => count,
    referencedBytes: () => count * MiB - (unitCount > 0 && isReferenced(unitCount - 1) ? MiB - lastUnitBytes : 0),
    extents,
  });
}

/**
 * Extents referenced in `next` but not in `prev` (e.g. the previous generation's map): blocks
 * allocated since then. Ship them whole, not only the written ranges RCT reports, because the
 * writer may have filled the rest of a new block with zeros over stale file bytes.
 */
export function* newlyReferenced(prev: ReferencedMap, next: ReferencedMap): IterableIterator<FileExtent> {
  let start = -1;
  for (let u = 0; u <= next.unitCount; u++) {
    const fresh = u < next.unitCount && next.isReferenced(u) && !prev.isReferenced(u);
    if (fresh && start < 0) start = u;
    if (!fresh && start >= 0) {
      yield { offset: start * MiB, length: Math.min(u * MiB, next.fileSize) - start * MiB };
      start = -1;
    }
  }
}
