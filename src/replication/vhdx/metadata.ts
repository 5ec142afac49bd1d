import {
  ITEM_FILE_PARAMETERS, ITEM_LOGICAL_SECTOR_SIZE, ITEM_PAGE83, ITEM_PARENT_LOCATOR, ITEM_PHYSICAL_SECTOR_SIZE, ITEM_VIRTUAL_DISK_SIZE,
  MAX_BLOCK_SIZE, MAX_VIRTUAL_DISK_SIZE, METADATA_MAX_ENTRIES, METADATA_SIGNATURE, METADATA_TABLE_SIZE, MIN_BLOCK_SIZE, MiB, KiB,
} from './constants';
import type { VhdxContext, VhdxFile } from './file-io';
import { readExact, vhdxInvalid, vhdxUnsupported } from './file-io';
import { parseGuid } from './guid';
import { parseParentLocator } from './parent-locator';
import type { VhdxParentLocator } from './parent-locator';
import type { VhdxRegion } from './region-table';

// The metadata region: a 64 KiB table of items, then the items themselves (block size, disk size,
// sector sizes, SCSI identity, parent locator).

/** One metadata table entry (offset is relative to the metadata region). */
export interface VhdxMetadataItem {
  readonly itemId: string;
  readonly offset: number;
  readonly length: number;
  readonly isUser: boolean;
  readonly isVirtualDisk: boolean;
  readonly isRequired: boolean;
}

/** The system metadata values this reader needs. */
export interface VhdxMetadata {
  readonly items: readonly VhdxMetadataItem[];
  readonly blockSize: number;
  readonly leaveBlocksAllocated: boolean;
  readonly hasParent: boolean;
  readonly virtualDiskSize: number;
  readonly logicalSectorSize: number;
  readonly physicalSectorSize: number;
  readonly page83?: string;
  readonly parentLocator?: VhdxParentLocator;
}

const KNOWN_ITEMS = new Set([ITEM_FILE_PARAMETERS, ITEM_VIRTUAL_DISK_SIZE, ITEM_PAGE83, ITEM_LOGICAL_SECTOR_SIZE, ITEM_PHYSICAL_SECTOR_SIZE, ITEM_PARENT_LOCATOR]);
const ITEM_NAMES: Record<string, string> = {
  [ITEM_FILE_PARAMETERS]: 'file parameters',
  [ITEM_VIRTUAL_DISK_SIZE]: 'virtual disk size',
  [ITEM_LOGICAL_SECTOR_SIZE]: 'logical sector size',
  [ITEM_PHYSICAL_SECTOR_SIZE]: 'physical sector size',
  [ITEM_PAGE83]: 'page 83 data',
  [ITEM_PARENT_LOCATOR]: 'parent locator',
};

/** Parses the metadata table (its first 64 KiB) and checks each entry's placement. */
export function parseMetadataTable(ctx: VhdxContext, table: Buffer, regionLength: number): VhdxMetadataItem[] {
  if (table.toString('latin1', 0, 8) !== METADATA_SIGNATURE) throw vhdxInvalid(ctx, 'metadataTable', "metadata table lacks the 'metadata' signature");
  const count = table.readUInt16LE(10);
  if (count > METADATA_MAX_ENTRIES) throw vhdxInvalid(ctx, 'metadataTable', `metadata table claims ${count} entries (at most ${METADATA_MAX_ENTRIES})`);
  const items: VhdxMetadataItem[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const o = 32 + i * 32;
    const flags = table.readUInt32LE(o + 24);
    const item: VhdxMetadataItem = {
      itemId: parseGuid(table, o),
      offset: table.readUInt32LE(o + 16),
      length: table.readUInt32LE(o + 20),
      isUser: (flags & 1) !== 0,
      isVirtualDisk: (flags & 2) !== 0,
      isRequired: (flags & 4) !== 0,
    };
    const label = ITEM_NAMES[item.itemId] ?? `item ${item.itemId}`;
    const key = `${item.itemId}/${item.isUser}`;
    if (seen.has(key)) throw vhdxInvalid(ctx, 'metadataTable', `metadata ${label} is listed twice`);
    seen.add(key);
    const placed = item.length === 0 ? item.offset === 0 : item.offset >= 64 * KiB && item.length <= MiB && item.offset + item.length <= regionLength;
    if (!placed) throw vhdxInvalid(ctx, 'metadataTable', `metadata ${label} (offset ${item.offset}, length ${item.length}) lies outside the metadata region`);
    if (item.isRequired && (item.isUser || !KNOWN_ITEMS.has(item.itemId))) {
      throw vhdxUnsupported(ctx, 'metadataTable', `contains a required metadata item ${item.itemId} this version does not understand`, { item: item.itemId });
    }
    items.push(item);
  }
  return items;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

/** Reads the metadata region of `region` and validates the system items. */
export async function readMetadata(file: VhdxFile, ctx: VhdxContext, region: VhdxRegion): Promise<VhdxMetadata> {
  const table = await readExact(file, ctx, region.fileOffset, METADATA_TABLE_SIZE, 'metadataTable');
  const items = parseMetadataTable(ctx, table, region.length);
  const system = (id: string): VhdxMetadataItem | undefined => items.find((i) => i.itemId === id && !i.isUser);
  async function value(id: string, minLength: number, needed: boolean): Promise<Buffer | undefined> {
    const item = system(id);
    if (item === undefined) {
      if (needed) throw vhdxInvalid(ctx, 'metadata', `metadata has no ${ITEM_NAMES[id]} item`);
      return undefined;
    }
    if (item.length < minLength) throw vhdxInvalid(ctx, 'metadata', `metadata ${ITEM_NAMES[id]} item is ${item.length} bytes, expected at least ${minLength}`);
    return readExact(file, ctx, region.fileOffset + item.offset, item.length, ITEM_NAMES[id]!);
  }
  const params = (await value(ITEM_FILE_PARAMETERS, 8, true))!;
  const blockSize = params.readUInt32LE(0);
  const paramFlags = params.readUInt32LE(4);
  if (!isPowerOfTwo(blockSize) || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE) {
    throw vhdxInvalid(ctx, 'blockSize', `metadata block size ${blockSize} is not a power of two between 1 MiB and 256 MiB`, { value: blockSize });
  }
  const logicalSectorSize = (await value(ITEM_LOGICAL_SECTOR_SIZE, 4, true))!.readUInt32LE(0);
  if (logicalSectorSize !== 512 && logicalSectorSize !== 4096) throw vhdxInvalid(ctx, 'logicalSectorSize', `logical sector size ${logicalSectorSize} is neither 512 nor 4096`);
  const physicalSectorSize = (await value(ITEM_PHYSICAL_SECTOR_SIZE, 4, true))!.readUInt32LE(0);
  if (physicalSectorSize !== 512 && physicalSectorSize !== 4096) throw vhdxInvalid(ctx, 'physicalSectorSize', `physical sector size ${physicalSectorSize} is neither 512 nor 4096`);
  const size = (await value(ITEM_VIRTUAL_DISK_SIZE, 8, true))!.readBigUInt64LE(0);
  if (size === 0n || size > BigInt(MAX_VIRTUAL_DISK_SIZE) || size % BigInt(logicalSectorSize) !== 0n) {
    throw vhdxInvalid(ctx, 'virtualDiskSize', `virtual disk size ${size} is not a positive multiple of the ${logicalSectorSize}-byte sector up to 64 TiB`);
  }
  const page83Raw = await value(ITEM_PAGE83, 16, false);
  const hasParent = (paramFlags & 2) !== 0;
  const locatorRaw = await value(ITEM_PARENT_LOCATOR, 20, hasParent);
  return {
    items,
    blockSize,
    leaveBlocksAllocated: (paramFlags & 1) !== 0,
    hasParent,
    virtualDiskSize: Number(size),
    logicalSectorSize,
    physicalSectorSize,
    ...(page83Raw === undefined ? {} : { page83: parseGuid(page83Raw, 0) }),
    ...(locatorRaw === undefined ? {} : { parentLocator: parseParentLocator(ctx, locatorRaw) }),
  };
}
