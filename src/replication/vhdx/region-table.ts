import { MiB, REGION_BAT, REGION_METADATA, REGION_TABLE_MAX_ENTRIES, REGION_TABLE_OFFSETS, REGION_TABLE_SIGNATURE, REGION_TABLE_SIZE } from './constants';
import { structureChecksum } from './crc32c';
import type { VhdxContext, VhdxFile } from './file-io';
import { readExact, vhdxInvalid, vhdxUnsupported } from './file-io';
import { parseGuid } from './guid';

// The region table (64 KiB at 192 KiB, copy at 256 KiB) says where the BAT and metadata live.

export type VhdxRegionKind = 'bat' | 'metadata' | 'other';

/** One region table entry. */
export interface VhdxRegion {
  readonly guid: string;
  readonly kind: VhdxRegionKind;
  readonly fileOffset: number;
  readonly length: number;
  readonly required: boolean;
}

/** Why a region table copy cannot be used, or its entries. */
type TableResult = { ok: true; entries: VhdxRegion[] } | { ok: false; problem: string };

/** Parses one 64 KiB region table copy; structural problems are returned, not thrown. */
export function parseRegionTable(buf: Buffer): TableResult {
  if (buf.toString('latin1', 0, 4) !== REGION_TABLE_SIGNATURE) return { ok: false, problem: "lacks the 'regi' signature" };
  if (structureChecksum(buf) !== buf.readUInt32LE(4)) return { ok: false, problem: 'fails its CRC-32C checksum' };
  const count = buf.readUInt32LE(8);
  if (count > REGION_TABLE_MAX_ENTRIES) return { ok: false, problem: `claims ${count} entries (at most ${REGION_TABLE_MAX_ENTRIES})` };
  const entries: VhdxRegion[] = [];
  for (let i = 0; i < count; i++) {
    const o = 16 + i * 32;
    const guid = parseGuid(buf, o);
    const kind: VhdxRegionKind = guid === REGION_BAT ? 'bat' : guid === REGION_METADATA ? 'metadata' : 'other';
    entries.push({ guid, kind, fileOffset: Number(buf.readBigUInt64LE(o + 16)), length: buf.readUInt32LE(o + 24), required: (buf.readUInt32LE(o + 28) & 1) === 1 });
  }
  return { ok: true, entries };
}

/** Reads the region table (copy 1, else copy 2) and checks every entry against the file. */
export async function readRegionTable(file: VhdxFile, ctx: VhdxContext, fileSize: number): Promise<{ used: 1 | 2; valid: readonly [boolean, boolean]; regions: VhdxRegion[] }> {
  const t1 = parseRegionTable(await readExact(file, ctx, REGION_TABLE_OFFSETS[0], REGION_TABLE_SIZE, 'regionTable1'));
  const t2 = parseRegionTable(await readExact(file, ctx, REGION_TABLE_OFFSETS[1], REGION_TABLE_SIZE, 'regionTable2'));
  const valid = [t1.ok, t2.ok] as const;
  let used: 1 | 2;
  let regions: VhdxRegion[];
  if (t1.ok) [used, regions] = [1, t1.entries];
  else if (t2.ok) [used, regions] = [2, t2.entries];
  else throw vhdxInvalid(ctx, 'regionTable', `both region tables are unusable: table 1 ${t1.problem}, table 2 ${(t2 as { problem: string }).problem}`);
  checkRegions(ctx, regions, fileSize);
  return { used, valid, regions };
}

function checkRegions(ctx: VhdxContext, regions: VhdxRegion[], fileSize: number): void {
  const seen = new Set<string>();
  for (const r of regions) {
    if (seen.has(r.guid)) throw vhdxInvalid(ctx, 'regionTable', `region ${r.guid} is listed twice in the region table`);
    seen.add(r.guid);
    if (r.kind === 'other' && r.required) {
      throw vhdxUnsupported(ctx, 'regionTable', `contains a required region ${r.guid} this version does not understand; refusing to replicate it`, { region: r.guid });
    }
    if (r.fileOffset % MiB !== 0 || r.fileOffset < MiB) throw vhdxInvalid(ctx, 'regionTable', `region ${r.guid} starts at ${r.fileOffset}, not at a 1 MiB boundary after the header section`);
    if (r.length === 0 || r.length % MiB !== 0) throw vhdxInvalid(ctx, 'regionTable', `region ${r.guid} has length ${r.length}, not a positive multiple of 1 MiB`);
    if (r.fileOffset + r.length > fileSize) {
      throw vhdxInvalid(ctx, 'regionTable', `region ${r.kind === 'other' ? r.guid : r.kind.toUpperCase()} ends at ${r.fileOffset + r.length}, past the end of the file (${fileSize} bytes); the file is truncated`);
    }
  }
  for (const kind of ['bat', 'metadata'] as const) {
    if (!regions.some((r) => r.kind === kind)) throw vhdxInvalid(ctx, 'regionTable', `region table has no ${kind === 'bat' ? 'BAT' : 'metadata'} region`);
  }
  const sorted = [...regions].sort((a, b) => a.fileOffset - b.fileOffset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    if (prev.fileOffset + prev.length > sorted[i]!.fileOffset) throw vhdxInvalid(ctx, 'regionTable', `regions ${prev.guid} and ${sorted[i]!.guid} overlap`);
  }
}
