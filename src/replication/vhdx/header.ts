import { HEADER_OFFSETS, HEADER_SIGNATURE, HEADER_SIZE } from './constants';
import { crc32c, structureChecksum } from './crc32c';
import type { VhdxContext, VhdxFile } from './file-io';
import { readExact, vhdxInvalid } from './file-io';
import { ZERO_GUID, parseGuid } from './guid';

// The two 4 KiB headers at 64 KiB and 128 KiB. Writers update the older one, so the current
// header is the valid one with the higher sequence number.

/** One parsed VHDX header (MS-VHDX 2.2.2). */
export interface VhdxHeader {
  readonly slot: 1 | 2;
  readonly fileOffset: number;
  readonly checksum: number;
  readonly sequenceNumber: bigint;
  readonly fileWriteGuid: string;
  readonly dataWriteGuid: string;
  readonly logGuid: string;
  readonly logVersion: number;
  readonly version: number;
  readonly logLength: number;
  readonly logOffset: number;
}

/** A header slot as found on disk: parsed fields when it validates, otherwise why not. */
export interface VhdxHeaderSlot {
  readonly slot: 1 | 2;
  readonly fileOffset: number;
  readonly valid: boolean;
  /** Why the slot is invalid (absent when valid). */
  readonly problem?: 'signature' | 'checksum' | 'version' | 'logVersion';
  readonly header?: VhdxHeader;
}

/** Parses and validates one header slot from its 4 KiB. */
export function parseHeaderSlot(buf: Buffer, slot: 1 | 2): VhdxHeaderSlot {
  const fileOffset = HEADER_OFFSETS[slot - 1];
  if (buf.toString('latin1', 0, 4) !== HEADER_SIGNATURE) return { slot, fileOffset, valid: false, problem: 'signature' };
  const checksum = buf.readUInt32LE(4);
  if (structureChecksum(buf) !== checksum) return { slot, fileOffset, valid: false, problem: 'checksum' };
  const header: VhdxHeader = {
    slot,
    fileOffset,
    checksum,
    sequenceNumber: buf.readBigUInt64LE(8),
    fileWriteGuid: parseGuid(buf, 16),
    dataWriteGuid: parseGuid(buf, 32),
    logGuid: parseGuid(buf, 48),
    logVersion: buf.readUInt16LE(64),
    version: buf.readUInt16LE(66),
    logLength: buf.readUInt32LE(68),
    logOffset: Number(buf.readBigUInt64LE(72)),
  };
  if (header.version !== 1) return { slot, fileOffset, valid: false, problem: 'version', header };
  if (header.logVersion !== 0) return { slot, fileOffset, valid: false, problem: 'logVersion', header };
  return { slot, fileOffset, valid: true, header };
}

// Each problem in singular ("header 1 ...") and plural ("both VHDX headers ...") form.
const PROBLEM_TEXT: Record<NonNullable<VhdxHeaderSlot['problem']>, readonly [string, string]> = {
  signature: ["lacks the 'head' signature", "lack the 'head' signature"],
  checksum: ['fails its CRC-32C checksum', 'fail their CRC-32C checksum'],
  version: ['has an unknown Version (expected 1)', 'have an unknown Version (expected 1)'],
  logVersion: ['has an unknown LogVersion (expected 0)', 'have an unknown LogVersion (expected 0)'],
};

/** Reads both headers and picks the current one; throws VHDX_INVALID when neither can be used. */
export async function readHeaders(file: VhdxFile, ctx: VhdxContext): Promise<{ slots: readonly [VhdxHeaderSlot, VhdxHeaderSlot]; current: VhdxHeader }> {
  const b1 = await readExact(file, ctx, HEADER_OFFSETS[0], HEADER_SIZE, 'header1');
  const b2 = await readExact(file, ctx, HEADER_OFFSETS[1], HEADER_SIZE, 'header2');
  const s1 = parseHeaderSlot(b1, 1);
  const s2 = parseHeaderSlot(b2, 2);
  const slots = [s1, s2] as const;
  if (!s1.valid && !s2.valid) {
    const why = s1.problem === s2.problem ? `both VHDX headers ${PROBLEM_TEXT[s1.problem!][1]}` : `VHDX header 1 ${PROBLEM_TEXT[s1.problem!][0]} and header 2 ${PROBLEM_TEXT[s2.problem!][0]}`;
    throw vhdxInvalid(ctx, 'headers', why, { header1: s1.problem, header2: s2.problem });
  }
  if (s1.valid && !s2.valid) return { slots, current: s1.header! };
  if (!s1.valid && s2.valid) return { slots, current: s2.header! };
  const h1 = s1.header!;
  const h2 = s2.header!;
  if (h1.sequenceNumber > h2.sequenceNumber) return { slots, current: h1 };
  if (h2.sequenceNumber > h1.sequenceNumber) return { slots, current: h2 };
  // Equal sequence numbers are only coherent when both headers are the same bytes (Disk2VHD does that).
  if (crc32c(b1) !== crc32c(b2) || !b1.equals(b2)) {
    throw vhdxInvalid(ctx, 'headers', `both VHDX headers carry sequence number ${h1.sequenceNumber} but differ; cannot tell which is current`);
  }
  return { slots, current: h1 };
}

/** True when the header announces a log that may hold entries still to be replayed. */
export function isLogActive(header: VhdxHeader): boolean {
  return header.logGuid !== ZERO_GUID;
}
