import { open } from 'node:fs/promises';
import { FILE_SIGNATURE, HEADER_SECTION_SIZE, MiB, SECTORS_PER_BITMAP_BLOCK } from './constants';
import type { VhdxContext, VhdxFile } from './file-io';
import { fileSizeOf, readAt, vhdxContext, vhdxInvalid } from './file-io';
import { isLogActive, readHeaders } from './header';
import type { VhdxHeader, VhdxHeaderSlot } from './header';
import { readMetadata } from './metadata';
import type { VhdxMetadataItem } from './metadata';
import type { VhdxParentLocator } from './parent-locator';
import { readRegionTable } from './region-table';
import { readLogReplay } from './log';
import type { VhdxLogReplay } from './log';
import { replayView, replayedSize } from './replay-view';
import type { VhdxRegion } from './region-table';
import { fromNodeError } from '../../errors';

// Everything about a VHDX file except its payload: parsed once, validated, frozen.

/** A byte range of the file. */
export interface FileExtent {
  readonly offset: number;
  readonly length: number;
}

/** The parsed, validated structure of one VHDX file. */
export interface VhdxLayout {
  readonly path: string;
  readonly fileSize: number;
  /** Diagnostic creator string from the file identifier (e.g. "QEMU v7.2.0"). */
  readonly creator: string;
  readonly headers: readonly [VhdxHeaderSlot, VhdxHeaderSlot];
  readonly currentHeader: VhdxHeader;
  readonly dataWriteGuid: string;
  readonly fileWriteGuid: string;
  readonly logGuid: string;
  /** LogGuid is non-zero: the log may hold entries a writer must replay before trusting the BAT. */
  readonly logActive: boolean;
  readonly log: FileExtent;
  /** The log's active sequence, when there is one: metadata and BAT are read as if it were replayed. */
  readonly logReplay?: VhdxLogReplay;
  /** File size once the log is replayed (the log may extend the file); equals fileSize without a log. */
  readonly sizeAfterReplay: number;
  readonly regionTableUsed: 1 | 2;
  readonly regionTablesValid: readonly [boolean, boolean];
  readonly regions: readonly VhdxRegion[];
  readonly bat: FileExtent;
  readonly metadataRegion: FileExtent;
  readonly metadataItems: readonly VhdxMetadataItem[];
  readonly blockSize: number;
  readonly leaveBlocksAllocated: boolean;
  readonly hasParent: boolean;
  readonly virtualDiskSize: number;
  readonly logicalSectorSize: number;
  readonly physicalSectorSize: number;
  readonly page83?: string;
  readonly parentLocator?: VhdxParentLocator;
  /** Payload blocks per sector-bitmap block: 2^23 * logicalSectorSize / blockSize. */
  readonly chunkRatio: number;
  readonly dataBlockCount: number;
  /** Sector-bitmap entries in the BAT (for a non-differencing disk, only the interleaved ones). */
  readonly sectorBitmapBlockCount: number;
  readonly batEntryCount: number;
}

export interface ReadLayoutOptions {
  /** Path to name in errors when `source` is a handle. */
  path?: string;
}

function deepFreeze<T>(value: T): T {
  // Buffers (log data) cannot be frozen; they are never handed out for writing.
  if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value) && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}

function checkLogPlacement(ctx: VhdxContext, h: VhdxHeader, fileSize: number): void {
  const { logOffset, logLength } = h;
  if (logLength % MiB !== 0 || logOffset % MiB !== 0 || (logLength > 0 && logOffset < HEADER_SECTION_SIZE)) {
    throw vhdxInvalid(ctx, 'log', `log (offset ${logOffset}, length ${logLength}) is not 1 MiB-aligned after the header section`);
  }
  if (logOffset + logLength > fileSize) throw vhdxInvalid(ctx, 'log', `log ends at ${logOffset + logLength}, past the end of the file (${fileSize} bytes); the file is truncated`);
}

function checkLogOverlap(ctx: VhdxContext, h: VhdxHeader, regions: readonly VhdxRegion[]): void {
  for (const r of regions) {
    if (h.logLength > 0 && h.logOffset < r.fileOffset + r.length && r.fileOffset < h.logOffset + h.logLength) {
      throw vhdxInvalid(ctx, 'log', `log overlaps region ${r.guid}`);
    }
  }
}

/** Parses a VHDX file's headers, region table and metadata; throws VHDX_INVALID / VHDX_UNSUPPORTED. */
export async function readVhdxLayout(source: string | VhdxFile, options: ReadLayoutOptions = {}): Promise<VhdxLayout> {
  if (typeof source === 'string') {
    let fh;
    try {
      fh = await open(source, 'r');
    } catch (err) {
      throw fromNodeError(err, source);
    }
    try {
      return await parseLayout(fh, vhdxContext(source));
    } finally {
      await fh.close();
    }
  }
  return parseLayout(source, vhdxContext(options.path ?? '<vhdx handle>'));
}

async function parseLayout(file: VhdxFile, ctx: VhdxContext): Promise<VhdxLayout> {
  const fileSize = await fileSizeOf(file, ctx);
  const ident = Buffer.alloc(8 + 512);
  const got = await readAt(file, ctx, ident, 0);
  if (got < 8 || ident.toString('latin1', 0, 8) !== FILE_SIGNATURE) {
    throw vhdxInvalid(ctx, 'fileIdentifier', "not a VHDX file (it does not start with 'vhdxfile')");
  }
  const creator = ident.toString('utf16le', 8, got).replace(/\0[\s\S]*$/, '');
  if (fileSize < HEADER_SECTION_SIZE) throw vhdxInvalid(ctx, 'fileSize', `file is truncated: ${fileSize} bytes, smaller than the 1 MiB header section`);
  const { slots, current } = await readHeaders(file, ctx);
  checkLogPlacement(ctx, current, fileSize);
  // With an active log, everything after the headers is read as it will be after replay.
  const logReplay = isLogActive(current) ? await readLogReplay(file, ctx, current, fileSize) : undefined;
  const view = logReplay === undefined ? file : replayView(file, fileSize, logReplay);
  const sizeAfterReplay = logReplay === undefined ? fileSize : replayedSize(fileSize, logReplay);
  const table = await readRegionTable(view, ctx, sizeAfterReplay);
  checkLogOverlap(ctx, current, table.regions);
  const batRegion = table.regions.find((r) => r.kind === 'bat')!;
  const metaRegion = table.regions.find((r) => r.kind === 'metadata')!;
  const md = await readMetadata(view, ctx, metaRegion);

  const chunkRatio = (SECTORS_PER_BITMAP_BLOCK * md.logicalSectorSize) / md.blockSize;
  const dataBlockCount = Math.ceil(md.virtualDiskSize / md.blockSize);
  const sectorBitmapBlockCount = md.hasParent ? Math.ceil(dataBlockCount / chunkRatio) : Math.floor((dataBlockCount - 1) / chunkRatio);
  const batEntryCount = md.hasParent ? sectorBitmapBlockCount * (chunkRatio + 1) : dataBlockCount + sectorBitmapBlockCount;
  if (batEntryCount * 8 > batRegion.length) {
    throw vhdxInvalid(ctx, 'bat', `BAT region holds ${batRegion.length / 8} entries but the disk needs ${batEntryCount}`, { batEntryCount, batLength: batRegion.length });
  }

  const { items, parentLocator, page83, ...values } = md;
  return deepFreeze({
    path: ctx.path,
    fileSize,
    creator,
    headers: slots,
    currentHeader: current,
    dataWriteGuid: current.dataWriteGuid,
    fileWriteGuid: current.fileWriteGuid,
    logGuid: current.logGuid,
    logActive: isLogActive(current),
    log: { offset: current.logOffset, length: current.logLength },
    ...(logReplay === undefined ? {} : { logReplay }),
    sizeAfterReplay,
    regionTableUsed: table.used,
    regionTablesValid: table.valid,
    regions: table.regions,
    bat: { offset: batRegion.fileOffset, length: batRegion.length },
    metadataRegion: { offset: metaRegion.fileOffset, length: metaRegion.length },
    metadataItems: items,
    ...values,
    ...(page83 === undefined ? {} : { page83 }),
    ...(parentLocator === undefined ? {} : { parentLocator }),
    chunkRatio,
    dataBlockCount,
    sectorBitmapBlockCount,
    batEntryCount,
  });
}
