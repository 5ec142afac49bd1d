import { crc32c, crc32cBetween, crc32cCombine } from './crc32c';
import { parseGuid } from './guid';

// Parsing one log entry (MS-VHDX 2.3.1) of a circular log held in memory, at a cost that does not
// depend on the length the entry CLAIMS. A crafted log where every sector is an entry header
// claiming the whole log would otherwise cost a full-log CRC per sector: quadratic. So:
// - descriptors and data sectors are checked first, in place (no copy). A descriptor sector after
//   the first starts with a descriptor ('desc'/'zero') and a data sector with 'data', never with
//   'loge'; so the sectors examined for two different headers overlap by at most one sector, and
//   all these checks together read each sector O(1) times;
// - the CRC over the entry comes from prefix CRCs of the sectors (crc32cBetween), O(log n) each;
// - results are memoized per position.

export const SECTOR = 4096;

/** One pending update: `data` (4 KiB) to write, or zeros when absent. */
export interface VhdxLogWrite {
  readonly fileOffset: number;
  readonly length: number;
  readonly data?: Buffer;
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

/** Work done by a log scan, for tests that prove it stays linear in the log size. */
export interface LogScanStats {
  /** Positions parsed as possible entries (each at most once). */
  entriesParsed: number;
  /** Descriptors and data sectors examined. */
  descriptorsChecked: number;
  /** Bytes run through CRC-32C directly (prefix table + header sectors). */
  bytesChecksummed: number;
  /** Entries walked while building runs in the active-sequence search. */
  runSteps: number;
}

export function newLogScanStats(): LogScanStats {
  return { entriesParsed: 0, descriptorsChecked: 0, bytesChecksummed: 0, runSteps: 0 };
}

export class LogScanner {
  private readonly memo = new Map<number, VhdxLogEntry | undefined>();
  private prefix: Uint32Array | undefined;
  readonly sectors: number;

  constructor(
    private readonly log: Buffer,
    private readonly logGuid: string,
    readonly stats: LogScanStats = newLogScanStats(),
  ) {
    this.sectors = Math.floor(log.length / SECTOR);
  }

  /** The valid entry at `pos` (a sector boundary), or undefined. */
  entryAt(pos: number): VhdxLogEntry | undefined {
    if (this.memo.has(pos)) return this.memo.get(pos);
    this.stats.entriesParsed += 1;
    const e = this.parse(pos);
    this.memo.set(pos, e);
    return e;
  }

  // The bytes at circular offset `at`. Descriptors and sectors never straddle the end of a log of
  // whole sectors (a VHDX log is 1 MiB-aligned); a copy is made only for a log that is not.
  private view(at: number, length: number): Buffer {
    const start = at % this.log.length;
    if (start + length <= this.log.length) return this.log.subarray(start, start + length);
    return Buffer.concat([this.log.subarray(start), this.log.subarray(0, start + length - this.log.length)]);
  }

  private parse(pos: number): VhdxLogEntry | undefined {
    const log = this.log;
    if (pos % SECTOR !== 0 || pos + SECTOR > log.length) return undefined;
    const h = log.subarray(pos, pos + 64);
    if (h.toString('latin1', 0, 4) !== 'loge') return undefined;
    const length = h.readUInt32LE(8);
    const tail = h.readUInt32LE(12);
    const seq = h.readBigUInt64LE(16);
    const count = h.readUInt32LE(24);
    if (length < SECTOR || length % SECTOR !== 0 || length > log.length || tail % SECTOR !== 0 || tail >= log.length || seq === 0n) return undefined;
    if (parseGuid(h, 32) !== this.logGuid) return undefined;
    const descSectors = Math.ceil((64 + 32 * count) / SECTOR);
    if (descSectors > length / SECTOR) return undefined;
    // Descriptors and their data sectors, in place.
    const found: Array<{ kind: 'zero'; fileOffset: number; length: number } | { kind: 'data'; fileOffset: number; d: Buffer; at: number }> = [];
    let dataIndex = 0;
    for (let i = 0; i < count; i++) {
      this.stats.descriptorsChecked += 1;
      const d = this.view(pos + 64 + 32 * i, 32);
      const sig = d.toString('latin1', 0, 4);
      if (d.readBigUInt64LE(24) !== seq) return undefined;
      const fileOffset = Number(d.readBigUInt64LE(16));
      if (fileOffset % SECTOR !== 0) return undefined;
      if (sig === 'zero') {
        const zeroLength = Number(d.readBigUInt64LE(8));
        if (zeroLength % SECTOR !== 0) return undefined;
        found.push({ kind: 'zero', fileOffset, length: zeroLength });
      } else if (sig === 'desc') {
        const at = (descSectors + dataIndex++) * SECTOR;
        if (at + SECTOR > length) return undefined;
        this.stats.descriptorsChecked += 1;
        const s = this.view(pos + at, SECTOR);
        if (s.toString('latin1', 0, 4) !== 'data' || s.readUInt32LE(4) !== Number(seq >> 32n) || s.readUInt32LE(4092) !== Number(seq & 0xffffffffn)) return undefined;
        found.push({ kind: 'data', fileOffset, d, at });
      } else return undefined;
    }
    if (this.entryCrc(pos, length) !== h.readUInt32LE(4)) return undefined;
    const writes: VhdxLogWrite[] = found.map((f) => {
      if (f.kind === 'zero') return { fileOffset: f.fileOffset, length: f.length };
      const s = this.view(pos + f.at, SECTOR);
      const data = Buffer.alloc(SECTOR);
      f.d.copy(data, 0, 8, 16); // LeadingBytes
      s.copy(data, 8, 8, 4092);
      f.d.copy(data, 4092, 4, 8); // TrailingBytes
      return { fileOffset: f.fileOffset, length: SECTOR, data };
    });
    return { pos, length, tail, seq, flushed: Number(h.readBigUInt64LE(48)), last: Number(h.readBigUInt64LE(56)), writes };
  }

  // CRC-32C of the entry's bytes with its own checksum field as zero: the header sector directly,
  // the rest from the prefix table (in two pieces when the entry wraps past the end of the log).
  private entryCrc(pos: number, length: number): number {
    const head = Buffer.from(this.log.subarray(pos, pos + SECTOR));
    head.writeUInt32LE(0, 4);
    this.stats.bytesChecksummed += SECTOR;
    let crc = crc32c(head);
    const from = pos / SECTOR + 1;
    const to = from + length / SECTOR - 1;
    const pieces: Array<[number, number]> = to <= this.sectors ? [[from, to]] : [[from, this.sectors], [0, to - this.sectors]];
    for (const [a, b] of pieces) if (b > a) crc = crc32cCombine(crc, this.rangeCrc(a, b), (b - a) * SECTOR);
    return crc;
  }

  private rangeCrc(a: number, b: number): number {
    const p = this.prefixTable();
    return crc32cBetween(p[a]!, p[b]!, (b - a) * SECTOR);
  }

  private prefixTable(): Uint32Array {
    if (this.prefix === undefined) {
      const p = new Uint32Array(this.sectors + 1);
      for (let k = 0; k < this.sectors; k++) p[k + 1] = crc32c(this.log.subarray(k * SECTOR, (k + 1) * SECTOR), p[k]);
      this.stats.bytesChecksummed += this.sectors * SECTOR;
      this.prefix = p;
    }
    return this.prefix;
  }
}

/** Parses and fully validates the entry at `pos` (signatures, GUID, CRC-32C, sequence numbers); undefined when it is not a valid entry. */
export function parseLogEntry(log: Buffer, pos: number, logGuid: string): VhdxLogEntry | undefined {
  return new LogScanner(log, logGuid).entryAt(pos);
}
