import { blake3 } from '@napi-rs/blake-hash';

// The verifiable pattern a simulated guest writes. Every 4 KiB unit of a pattern write says who
// wrote it and when: magic, VM id, write sequence number, the write's virtual offset and length,
// the unit's index, the writing run's boot tag, then a BLAKE3 digest of that header repeated to the end of the unit. A unit
// decodes only if all of it is intact, so a torn or mixed copy is caught.

export const PATTERN_UNIT = 4096;
const MAGIC = Buffer.from('VMMSIMW1', 'latin1');
const HEADER = 64;
const DIGEST = 32;

export interface PatternUnit {
  vmId: string;
  seq: number;
  diskIndex: number;
  /** Virtual offset and length of the whole write this unit belongs to. */
  writeOffset: number;
  writeLength: number;
  unitIndex: number;
  /** 16 hex digits naming the run (VM process boot) that wrote it: tells apart two writes with one number. */
  boot: string;
}

function idBytes(vmId: string): Buffer {
  return Buffer.from(vmId.replace(/-/g, ''), 'hex');
}

function idText(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The bytes of one pattern write: `length` (a multiple of 4 KiB) at virtual `offset`. */
export function encodePatternWrite(w: { vmId: string; seq: number; diskIndex: number; offset: number; length: number; boot: string }): Buffer {
  if (!/^[0-9a-f]{16}$/.test(w.boot)) throw new RangeError('boot tag must be 16 hex digits');
  if (w.length % PATTERN_UNIT !== 0 || w.offset % PATTERN_UNIT !== 0) throw new RangeError('pattern writes are whole 4 KiB units');
  const out = Buffer.alloc(w.length);
  for (let u = 0; u < w.length / PATTERN_UNIT; u++) {
    const unit = out.subarray(u * PATTERN_UNIT, (u + 1) * PATTERN_UNIT);
    MAGIC.copy(unit, 0);
    idBytes(w.vmId).copy(unit, 8);
    unit.writeBigUInt64LE(BigInt(w.seq), 24);
    unit.writeBigUInt64LE(BigInt(w.offset), 32);
    unit.writeUInt32LE(w.length, 40);
    unit.writeUInt32LE(u, 44);
    unit.writeUInt32LE(w.diskIndex, 48);
    Buffer.from(w.boot, 'hex').copy(unit, 56);
    const digest = blake3(unit.subarray(0, HEADER));
    for (let p = HEADER; p < PATTERN_UNIT; p += DIGEST) digest.copy(unit, p, 0, Math.min(DIGEST, PATTERN_UNIT - p));
  }
  return out;
}

/** Decodes one 4 KiB unit; null when it is not an intact pattern unit (zeros, guest data, torn). */
export function decodePatternUnit(unit: Buffer): PatternUnit | null {
  if (unit.length < PATTERN_UNIT || !unit.subarray(0, 8).equals(MAGIC)) return null;
  const digest = blake3(unit.subarray(0, HEADER));
  for (let p = HEADER; p < PATTERN_UNIT; p += DIGEST) {
    if (!digest.subarray(0, Math.min(DIGEST, PATTERN_UNIT - p)).equals(unit.subarray(p, Math.min(p + DIGEST, PATTERN_UNIT)))) return null;
  }
  const u: PatternUnit = {
    vmId: idText(unit.subarray(8, 24)),
    seq: Number(unit.readBigUInt64LE(24)),
    writeOffset: Number(unit.readBigUInt64LE(32)),
    writeLength: unit.readUInt32LE(40),
    unitIndex: unit.readUInt32LE(44),
    diskIndex: unit.readUInt32LE(48),
    boot: unit.subarray(56, 64).toString('hex'),
  };
  return u;
}

/** A small deterministic generator (mulberry32) so the write stream replays from (seed, seq). */
export function writeChoice(seed: number, seq: number, diskCount: number, unitsPerDisk: number[]): { diskIndex: number; unit: number } {
  let a = (seed ^ Math.imul(seq, 0x9e3779b1)) >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const diskIndex = Math.floor(next() * diskCount);
  return { diskIndex, unit: Math.floor(next() * unitsPerDisk[diskIndex]!) };
}
