// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum VHDX uses for its headers,
// region tables and log entries. Slicing-by-8: eight 256-entry tables, eight bytes per step.

const POLY = 0x82f63b78;

function buildTables(): Uint32Array[] {
  const tables: Uint32Array[] = [];
  const t0 = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t0[n] = c >>> 0;
  }
  tables.push(t0);
  for (let t = 1; t < 8; t++) {
    const prev = tables[t - 1]!;
    const cur = new Uint32Array(256);
    for (let n = 0; n < 256; n++) cur[n] = (prev[n]! >>> 8) ^ t0[prev[n]! & 0xff]!;
    tables.push(cur);
  }
  return tables;
}

const [T0, T1, T2, T3, T4, T5, T6, T7] = buildTables() as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];

/** CRC-32C of `data`; pass a previous result as `previous` to continue over several buffers. */
export function crc32c(data: Uint8Array, previous = 0): number {
  let c = ~previous >>> 0;
  let i = 0;
  const end8 = data.length - (data.length % 8);
  while (i < end8) {
    const a = (c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) >>> 0;
    c =
      T7[a & 0xff]! ^
      T6[(a >>> 8) & 0xff]! ^
      T5[(a >>> 16) & 0xff]! ^
      T4[a >>> 24]! ^
      T3[data[i + 4]!]! ^
      T2[data[i + 5]!]! ^
      T1[data[i + 6]!]! ^
      T0[data[i + 7]!]!;
    i += 8;
  }
  for (; i < data.length; i++) c = T0[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC-32C of a VHDX structure whose own 4-byte checksum field (at `checksumOffset`) counts as zero. */
export function structureChecksum(data: Uint8Array, checksumOffset = 4): number {
  const copy = Buffer.from(data);
  copy.fill(0, checksumOffset, checksumOffset + 4);
  return crc32c(copy);
}

// CRC combination (as zlib's crc32_combine, for the Castagnoli polynomial): the CRC of A||B from
// crc(A), crc(B) and |B|, in O(log |B|). The log parser uses it to checksum any run of its sectors
// from prefix CRCs, so a crafted log cannot make it hash the same bytes over and over.

/** a(x) * b(x) mod p(x), bit-reflected as the CRC is. */
function multModP(a: number, b: number): number {
  if (a === 0) return 0;
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if ((a & m) !== 0) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

/** X2N[k] = x^(2^k) mod p(x). */
const X2N: Uint32Array = (() => {
  const t = new Uint32Array(32);
  t[0] = 0x40000000; // x^1
  for (let k = 1; k < 32; k++) t[k] = multModP(t[k - 1]!, t[k - 1]!);
  return t;
})();

/** x^(8 * bytes) mod p(x): the operator that shifts a CRC past `bytes` zero bytes. */
function shiftBytes(bytes: number): number {
  let p = 0x80000000; // x^0
  let k = 3; // 8 = 2^3 bits per byte
  for (let n = bytes; n > 0; n = Math.floor(n / 2), k++) if (n % 2 === 1) p = multModP(X2N[k & 31]!, p);
  return p;
}

/** CRC-32C of A||B, given crc32c(A), crc32c(B) and B's length. */
export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  return (multModP(shiftBytes(lengthB), crcA) ^ crcB) >>> 0;
}

/** CRC-32C of the bytes between two prefix CRCs: crc(data[a..b)) from crc(data[0..a)), crc(data[0..b)). */
export function crc32cBetween(prefixA: number, prefixB: number, length: number): number {
  return (prefixB ^ multModP(shiftBytes(length), prefixA)) >>> 0;
}
