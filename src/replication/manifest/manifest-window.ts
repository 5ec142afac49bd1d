import { HASH_BYTES, UNKNOWN_HASH } from '../hash';
import type { ManifestFile } from './manifest-file';

// Sequential reader over a manifest: entries are asked for in increasing index order, read in
// windows, so memory stays at one window whatever the disk size.

const WINDOW_ENTRIES = 8192; // 256 KiB

export class ManifestWindow {
  private buf: Buffer = Buffer.alloc(0);
  private start = 0;

  constructor(private readonly manifest: ManifestFile | null) {}

  get entryCount(): number {
    return this.manifest?.entryCount ?? 0;
  }

  /** Entry `i` (a 32-byte view, valid until the next call); unknown past the end. */
  async entry(i: number): Promise<Buffer> {
    if (this.manifest === null || i >= this.manifest.entryCount) return UNKNOWN_HASH;
    if (i < this.start || i >= this.start + this.buf.length / HASH_BYTES) {
      const n = Math.min(WINDOW_ENTRIES, this.manifest.entryCount - i);
      this.buf = await this.manifest.readEntries(i, n, Buffer.alloc(n * HASH_BYTES));
      this.start = i;
    }
    const off = (i - this.start) * HASH_BYTES;
    return this.buf.subarray(off, off + HASH_BYTES);
  }

  /** Entries [start, start+count) (inside the manifest) as a view, valid until the next call. */
  async slice(start: number, count: number): Promise<Buffer> {
    if (this.manifest === null || start + count > this.manifest.entryCount) throw new RangeError(`manifest window: ${start}+${count} outside the manifest`);
    if (start < this.start || start + count > this.start + this.buf.length / HASH_BYTES) {
      const n = Math.min(Math.max(WINDOW_ENTRIES, count), this.manifest.entryCount - start);
      this.buf = await this.manifest.readEntries(start, n, Buffer.alloc(n * HASH_BYTES));
      this.start = start;
    }
    const off = (start - this.start) * HASH_BYTES;
    return this.buf.subarray(off, off + count * HASH_BYTES);
  }

  /** Entries [start, start+count) as one compact buffer that owns its memory (safe to post to a worker). */
  async entries(start: number, count: number): Promise<Uint8Array> {
    const out = new Uint8Array(count * HASH_BYTES);
    const known = Math.max(0, Math.min(count, this.entryCount - start));
    if (known > 0 && this.manifest !== null) {
      // Served from the window: one file read per WINDOW_ENTRIES blocks, not one per chunk.
      const from = await this.slice(start, known);
      out.set(from, 0);
    }
    return out;
  }
}
