import { MiB } from './constants';
import { crc32c } from './crc32c';
import type { VhdxContext, VhdxFile } from './file-io';
import { readExact, vhdxInvalid, vhdxUnsupported } from './file-io';
import { parseGuid } from './guid';
import type { VhdxHeader } from './header';

// The metadata log (MS-VHDX 2.3): a circular buffer of 4 KiB sectors holding BAT/metadata updates
// that may not have reached their final place yet. When the header's LogGuid is set we find the
// active sequence the way the spec describes, and keep its writes so reads can see the file as it
// will be after replay (Hyper-V and qemu replay on open; a replica must agree with that view).

const SECTOR = 4096;
/** Logs larger than this are refused rather than read into memory (Hyper-V and qemu use 1 MiB). */
export const MAX_LOG_BYTES = 256 * MiB;

/** One pending update: `data` (4 KiB) to write, or zeros when absent. */
export interface VhdxLogWrite {
  readonly fileOffset: number;
  readonly length: number;
  readonly data?: Buffer;
}

/** The active log sequence: what a replay would write, in order. */
export interface VhdxLogReplay {
  readonly tailOffset: number;
  readonly headOffset: number;
  readonly entryCount: number;
  readonly tailSequenceNumber: bigint;
  readonly headSequenceNumber: bigint;
  readonly flushedFileOffset: number;
  readonly lastFileOffset: number;
  readonly writes: readonly VhdxLogWrite[];
}

/** One valid log entry, with its writes decoded (leading/trailing bytes restored). */
export interface VhdxLogEntry {
  pos: number;
  length: number;
  tail: number;
  seq: bigint;
  flushed: number;
  last: number;
  writes: VhdxLogWrite[];
}

// Bytes of the entry at `pos`, copied out of the circular log (an entry may wrap past the end).
function entryBytes(log: Buffer, pos: number, length: number): Buffer {
  if (pos + length <= log.length) return Buffer.from(log.subarray(pos, pos + length));
  return Buffer.concat([log.subarray(pos), log.subarray(0, pos + length - log.length)]);
}

/** Parses and fully validates the entry at `pos` (signatures, GUID, CRC-32C, sequence numbers); undefined when it is not a valid entry. */
export function parseLogEntry(log: Buffer, pos: number, logGuid: string): VhdxLogEntry | undefined {
  const h = log.subarray(pos, pos + 64);
  if (h.toString('latin1', 0, 4) !== 'loge') return undefined;
  const length = h.readUInt32LE(8);
  const tail = h.readUInt32LE(12);
  const seq = h.readBigUInt64LE(16);
  const count = h.readUInt32LE(24);
  if (length < SECTOR || length % SECTOR !== 0 || length > log.length || tail % SECTOR !== 0 || tail >= log.length || seq === 0n) return undefined;
  if (parseGuid(h, 32) !== logGuid) return undefined;
  const descSectors = Math.ceil((64 + 32 * count) / SECTOR);
  if (descSectors > length / SECTOR) return undefined;
  const bytes = entryBytes(log, pos, length);
  const stored = bytes.readUInt32LE(4);
  bytes.writeUInt32LE(0, 4);
  if (crc32c(bytes) !== stored) return undefined;
  const writes: VhdxLogWrite[] = [];
  let dataIndex = 0;
  for (let i = 0; i < count; i++) {
    const d = 64 + 32 * i;
    const sig = bytes.toString('latin1', d, d + 4);
    if (bytes.readBigUInt64LE(d + 24) !== seq) return undefined;
    const fileOffset = Number(bytes.readBigUInt64LE(d + 16));
    if (fileOffset % SECTOR !== 0) return undefined;
    if (sig === 'zero') {
      const zeroLength = Number(bytes.readBigUInt64LE(d + 8));
      if (zeroLength % SECTOR !== 0) return undefined;
      writes.push({ fileOffset, length: zeroLength });
    } else if (sig === 'desc') {
      const at = (descSectors + dataIndex++) * SECTOR;
      if (at + SECTOR > length) return undefined;
      const s = bytes.subarray(at, at + SECTOR);
      if (s.toString('latin1', 0, 4) !== 'data' || s.readUInt32LE(4) !== Number(seq >> 32n) || s.readUInt32LE(4092) !== Number(seq & 0xffffffffn)) return undefined;
      const data = Buffer.alloc(SECTOR);
      bytes.copy(data, 0, d + 8, d + 16); // LeadingBytes
      s.copy(data, 8, 8, 4092);
      bytes.copy(data, 4092, d + 4, d + 8); // TrailingBytes
      writes.push({ fileOffset, length: SECTOR, data });
    } else return undefined;
  }
  return { pos, length, tail, seq, flushed: Number(h.readBigUInt64LE(48)), last: Number(h.readBigUInt64LE(56)), writes };
}

/** Finds the active sequence (MS-VHDX 2.3.3): the newest run of consecutive valid entries whose head's tail lies inside the run. */
export function findActiveSequence(log: Buffer, logGuid: string): VhdxLogEntry[] | undefined {
  let candidate: VhdxLogEntry[] | undefined;
  let curTail = 0;
  let oldTail = 0;
  for (;;) {
    const run: VhdxLogEntry[] = [];
    let pos = curTail;
    let span = 0;
    for (;;) {
      const e = parseLogEntry(log, pos, logGuid);
      if (e === undefined || span + e.length > log.length) break;
      if (run.length > 0 && e.seq !== run[run.length - 1]!.seq + 1n) break;
      run.push(e);
      span += e.length;
      pos = (pos + e.length) % log.length;
    }
    const head = run[run.length - 1];
    const tailAt = head === undefined ? -1 : run.findIndex((e) => e.pos === head.tail);
    if (head !== undefined && tailAt >= 0) {
      if (candidate === undefined || head.seq > candidate[candidate.length - 1]!.seq) candidate = run.slice(tailAt);
      curTail = pos;
    } else {
      curTail = (curTail + SECTOR) % log.length;
    }
    // Back at or before where the scan stood: the whole circle has been looked at.
    if (curTail <= oldTail) break;
    oldTail = curTail;
  }
  return candidate;
}

/** Reads the log when the header names one; undefined when there is nothing to replay. */
export async function readLogReplay(file: VhdxFile, ctx: VhdxContext, header: VhdxHeader, fileSize: number): Promise<VhdxLogReplay | undefined> {
  if (header.logLength === 0) return undefined;
  if (header.logLength > MAX_LOG_BYTES) throw vhdxUnsupported(ctx, 'log', `log of ${header.logLength} bytes is larger than the ${MAX_LOG_BYTES} this version reads`);
  const log = await readExact(file, ctx, header.logOffset, header.logLength, 'log');
  const run = findActiveSequence(log, header.logGuid);
  if (run === undefined) return undefined;
  const head = run[run.length - 1]!;
  if (fileSize < head.flushed) {
    throw vhdxInvalid(ctx, 'log', `file is truncated: the log says it was at least ${head.flushed} bytes, it is ${fileSize}`, { flushedFileOffset: head.flushed, fileSize });
  }
  return {
    tailOffset: run[0]!.pos,
    headOffset: head.pos,
    entryCount: run.length,
    tailSequenceNumber: run[0]!.seq,
    headSequenceNumber: head.seq,
    flushedFileOffset: head.flushed,
    lastFileOffset: head.last,
    writes: run.flatMap((e) => e.writes),
  };
}
