import {
  HEADER_SECTION_SIZE, MiB, PAYLOAD_FULLY_PRESENT, PAYLOAD_NOT_PRESENT, PAYLOAD_PARTIALLY_PRESENT, PAYLOAD_UNDEFINED, PAYLOAD_UNMAPPED,
  PAYLOAD_UNMAPPED_V095, PAYLOAD_ZERO, SB_NOT_PRESENT, SB_PRESENT, SECTOR_BITMAP_BLOCK_SIZE,
} from './constants';
import type { VhdxContext, VhdxFile } from './file-io';
import { readExact, vhdxContext, vhdxInvalid } from './file-io';
import type { VhdxLayout } from './layout';
import { replayView } from './replay-view';

// The Block Allocation Table, read in bounded chunks with positional reads: never the whole table.
// Entry = u64: state in bits 0-2, FileOffsetMB in bits 20-63.

/** Default bytes of BAT read at once (131072 entries). */
export const DEFAULT_BAT_CHUNK_BYTES = MiB;

/**
 * How a BAT entry reads: a payload entry is absent, fully or partially present, or `retained`
 * (UNDEFINED/UNMAPPED with a file offset: MS-VHDX lets readers return the block's old contents,
 * so those bytes still matter to a byte-identical copy); a bitmap entry is absent or present.
 */
export type BatEntryPresence = 'absent' | 'full' | 'partial' | 'retained' | 'present';

/** One decoded BAT entry. */
export interface BatEntry {
  readonly index: number;
  readonly kind: 'payload' | 'sectorBitmap';
  /** Payload block number, or sector-bitmap chunk number. */
  readonly number: number;
  readonly state: number;
  /** Byte offset in the file (meaningful only when present). */
  readonly fileOffset: number;
  readonly presence: BatEntryPresence;
}

/** BAT index of payload block `block`. */
export function payloadBatIndex(layout: VhdxLayout, block: number): number {
  return block + Math.floor(block / layout.chunkRatio);
}

/** BAT index of the sector-bitmap entry of chunk `chunk`. */
export function bitmapBatIndex(layout: VhdxLayout, chunk: number): number {
  return chunk * (layout.chunkRatio + 1) + layout.chunkRatio;
}

/** Decodes the entry at `index` from the 8 bytes at `pos` of `buf`; throws VHDX_INVALID for impossible states. */
export function decodeBatEntry(layout: VhdxLayout, ctx: VhdxContext, index: number, buf: Buffer, pos: number): BatEntry {
  const lo = buf.readUInt32LE(pos);
  const hi = buf.readUInt32LE(pos + 4);
  const state = lo & 7;
  const fileOffset = (hi * 4096 + (lo >>> 20)) * MiB;
  const period = layout.chunkRatio + 1;
  const isBitmap = index % period === layout.chunkRatio;
  const number = isBitmap ? (index - layout.chunkRatio) / period : index - Math.floor(index / period);
  let presence: BatEntryPresence;
  if (isBitmap) {
    if (state === SB_PRESENT) presence = 'present';
    else if (state === SB_NOT_PRESENT) presence = 'absent';
    else throw vhdxInvalid(ctx, 'bat', `sector bitmap entry ${number} (BAT entry ${index}) has unknown state ${state}`, { index, state });
  } else if (state === PAYLOAD_FULLY_PRESENT) presence = 'full';
  else if (state === PAYLOAD_PARTIALLY_PRESENT) {
    if (!layout.hasParent) throw vhdxInvalid(ctx, 'bat', `payload block ${number} (BAT entry ${index}) is PARTIALLY_PRESENT in a disk that has no parent`, { index, state });
    presence = 'partial';
  } else if (state === PAYLOAD_UNDEFINED || state === PAYLOAD_UNMAPPED) {
    presence = fileOffset === 0 ? 'absent' : 'retained';
  } else if (state === PAYLOAD_NOT_PRESENT || state === PAYLOAD_ZERO || state === PAYLOAD_UNMAPPED_V095) {
    presence = 'absent';
  } else throw vhdxInvalid(ctx, 'bat', `payload block ${number} (BAT entry ${index}) has unknown state ${state}`, { index, state });
  const entry: BatEntry = { index, kind: isBitmap ? 'sectorBitmap' : 'payload', number, state, fileOffset, presence };
  if (presence === 'retained') {
    // Old contents are optional: an offset that could not hold them is simply not used.
    try {
      checkPlacement(layout, ctx, entry);
    } catch {
      return { ...entry, presence: 'absent' };
    }
  } else if (presence !== 'absent') checkPlacement(layout, ctx, entry);
  return entry;
}

/** Bytes of file a present entry occupies. */
export function entryLength(layout: VhdxLayout, entry: BatEntry): number {
  return entry.kind === 'payload' ? layout.blockSize : SECTOR_BITMAP_BLOCK_SIZE;
}

interface FixedArea {
  name: string;
  offset: number;
  length: number;
}
// The structures no block may overlap, computed once per layout (scans call this per entry).
const fixedAreas = new WeakMap<VhdxLayout, FixedArea[]>();
function areasOf(layout: VhdxLayout): FixedArea[] {
  let areas = fixedAreas.get(layout);
  if (areas === undefined) {
    areas = [{ name: 'the log', offset: layout.log.offset, length: layout.log.length }, ...layout.regions.map((r) => ({ name: `the ${r.kind === 'other' ? r.guid : r.kind.toUpperCase()} region`, offset: r.fileOffset, length: r.length }))].filter((a) => a.length > 0);
    fixedAreas.set(layout, areas);
  }
  return areas;
}

function checkPlacement(layout: VhdxLayout, ctx: VhdxContext, e: BatEntry): void {
  const length = entryLength(layout, e);
  const what = (): string => `${e.kind === 'payload' ? 'payload block' : 'sector bitmap block'} ${e.number} (BAT entry ${e.index})`;
  const details = { index: e.index, fileOffset: e.fileOffset, length };
  if (e.fileOffset < HEADER_SECTION_SIZE) throw vhdxInvalid(ctx, 'bat', `${what()} points at offset ${e.fileOffset}, inside the 1 MiB header section`, details);
  if (e.fileOffset + length > layout.sizeAfterReplay) {
    throw vhdxInvalid(ctx, 'bat', `${what()} points at ${e.fileOffset}..${e.fileOffset + length}, past the end of the file (${layout.sizeAfterReplay} bytes); the file is truncated or its BAT is corrupt`, details);
  }
  for (const f of areasOf(layout)) {
    if (e.fileOffset < f.offset + f.length && f.offset < e.fileOffset + length) throw vhdxInvalid(ctx, 'bat', `${what()} at offset ${e.fileOffset} overlaps ${f.name}`, details);
  }
}

export interface BatReadOptions {
  /** Bytes of BAT read per positional read (multiple of 8; default 1 MiB). */
  chunkBytes?: number;
}

function chunkSize(options: BatReadOptions): number {
  const n = options.chunkBytes ?? DEFAULT_BAT_CHUNK_BYTES;
  if (!Number.isInteger(n) || n < 8 || n % 8 !== 0) throw new RangeError(`BAT chunk size must be a positive multiple of 8, got ${n}`);
  return n;
}

/** The file as BAT readers must see it: with the log's pending writes applied when there are any. */
export function layoutView(layout: VhdxLayout, file: VhdxFile): VhdxFile {
  return layout.logReplay === undefined ? file : replayView(file, layout.fileSize, layout.logReplay);
}

/** Visits every BAT entry in order, reading at most `chunkBytes` of BAT at a time into one reused buffer. */
export async function scanBat(layout: VhdxLayout, file: VhdxFile, visit: (entry: BatEntry) => void, options: BatReadOptions = {}): Promise<void> {
  const ctx = vhdxContext(layout.path);
  const view = layoutView(layout, file);
  const chunk = chunkSize(options);
  const total = layout.batEntryCount * 8;
  const reused = Buffer.alloc(Math.min(chunk, total));
  for (let start = 0; start < total; start += chunk) {
    const len = Math.min(chunk, total - start);
    const buf = await readExact(view, ctx, layout.bat.offset + start, len, 'bat', reused);
    for (let p = 0; p < len; p += 8) visit(decodeBatEntry(layout, ctx, (start + p) / 8, buf, p));
  }
}

/** Random access to BAT entries through a small LRU cache of chunks. */
export interface BatReader {
  readonly chunkBytes: number;
  entry(index: number): Promise<BatEntry>;
}

/** A BatReader holding at most `cacheChunks` chunks (default 4) of `chunkBytes` (default 64 KiB). */
export function batReader(layout: VhdxLayout, file: VhdxFile, options: BatReadOptions & { cacheChunks?: number } = {}): BatReader {
  const ctx = vhdxContext(layout.path);
  const view = layoutView(layout, file);
  const chunkBytes = chunkSize({ chunkBytes: options.chunkBytes ?? 64 * 1024 });
  const cacheChunks = Math.max(1, options.cacheChunks ?? 4);
  const cache = new Map<number, Buffer>();
  const total = layout.batEntryCount * 8;
  async function load(c: number): Promise<Buffer> {
    const hit = cache.get(c);
    if (hit !== undefined) {
      cache.delete(c);
      cache.set(c, hit);
      return hit;
    }
    const buf = await readExact(view, ctx, layout.bat.offset + c * chunkBytes, Math.min(chunkBytes, total - c * chunkBytes), 'bat');
    cache.set(c, buf);
    if (cache.size > cacheChunks) cache.delete(cache.keys().next().value!);
    return buf;
  }
  return {
    chunkBytes,
    async entry(index: number): Promise<BatEntry> {
      if (!Number.isInteger(index) || index < 0 || index >= layout.batEntryCount) throw new RangeError(`BAT index ${index} outside 0..${layout.batEntryCount - 1}`);
      const byte = index * 8;
      const c = Math.floor(byte / chunkBytes);
      return decodeBatEntry(layout, ctx, index, await load(c), byte - c * chunkBytes);
    },
  };
}
