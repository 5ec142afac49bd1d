import type { BlockRun } from './file-layout';

// A set of block indexes as a bitset: change tracking may name a million scattered ranges, and
// keeping them as arrays (to sort and merge) grows with the number of ranges. One bit per block
// of the file instead (a 1 TiB disk in 64 KiB blocks: 2 MiB), whatever the number of ranges,
// and runs come out merged and in order for free.

export class BlockSet {
  private readonly bits: Uint8Array;

  constructor(readonly blockCount: number) {
    this.bits = new Uint8Array(Math.ceil(blockCount / 8));
  }

  /** Adds blocks [start, end), clipped to the file. */
  addRun(start: number, end: number): void {
    const s = Math.max(0, start);
    const e = Math.min(end, this.blockCount);
    let i = s;
    for (; i < e && i % 8 !== 0; i++) this.bits[i >> 3]! |= 1 << (i & 7);
    for (; i + 8 <= e; i += 8) this.bits[i >> 3] = 0xff;
    for (; i < e; i++) this.bits[i >> 3]! |= 1 << (i & 7);
  }

  /** Adds the blocks holding file bytes [offset, offset + length). */
  addExtent(offset: number, length: number, blockSize: number): void {
    if (length > 0) this.addRun(Math.floor(offset / blockSize), Math.ceil((offset + length) / blockSize));
  }

  has(i: number): boolean {
    return (this.bits[i >> 3]! & (1 << (i & 7))) !== 0;
  }

  /** Maximal runs of set blocks, ascending. */
  *runs(): Generator<BlockRun, void> {
    let start = -1;
    for (let byte = 0; byte < this.bits.length; byte++) {
      const b = this.bits[byte]!;
      if ((b === 0 && start < 0) || (b === 0xff && start >= 0)) continue; // whole byte: nothing changes
      for (let k = 0; k < 8; k++) {
        const i = byte * 8 + k;
        if (i >= this.blockCount) break;
        const set = (b & (1 << k)) !== 0;
        if (set && start < 0) start = i;
        else if (!set && start >= 0) {
          yield [start, i];
          start = -1;
        }
      }
    }
    if (start >= 0) yield [start, this.blockCount];
  }
}
