import { HASH_BYTES, UNKNOWN_HASH, hashBlock, incrementalHash, type IncrementalHash } from '../hash';
import { entryCountFor, type ManifestFile } from './manifest-file';
import { ManifestWindow } from './manifest-window';

// The one rule for what a replica's manifest becomes after a generation is applied. P runs it to
// predict S's manifest digest (sent in the trailer), S runs it to check the stream before it
// commits, and S's apply writes exactly this. If P and S disagree on S's state, the digests differ
// and nothing is applied (DESIGN I2).
//
// Resulting entry i (i < newCount): the hash sent for block i; else the old entry if i is below
// `keepBelow`; else `entryAfterResize`: when a file grows, the blocks lying wholly in the grown part
// are known zeros (the replica file is extended with zeros); the old and new partial tail blocks
// are unknown, because their bytes changed with the size.

/** First entry index that a size change makes unknown (entries below keep their old hash). */
export function keepBelow(oldSize: number, newSize: number, blockSize: number): number {
  if (oldSize === newSize) return entryCountFor(oldSize, blockSize);
  return Math.floor(Math.min(oldSize, newSize) / blockSize);
}

const zeroHashes = new Map<number, Buffer>();

/** BLAKE3 of `length` zero bytes (cached per length). */
export function zeroBlockHash(length: number): Buffer {
  let h = zeroHashes.get(length);
  if (h === undefined) {
    h = hashBlock(Buffer.alloc(length));
    zeroHashes.set(length, h);
  }
  return h;
}

/** What a resize from `oldSize` to `newSize` leaves at entry i (for i >= keepBelow). */
export function entryAfterResize(i: number, oldSize: number, newSize: number, blockSize: number): Buffer {
  if (newSize > oldSize && i * blockSize >= oldSize) return zeroBlockHash(Math.min(blockSize, newSize - i * blockSize));
  return UNKNOWN_HASH;
}

/** Resizes a manifest the way applying a generation resizes the file (same rule as the merger). */
export async function resizeManifest(m: ManifestFile, oldSize: number, newSize: number, blockSize: number): Promise<void> {
  await m.setFileSize(newSize);
  const count = m.entryCount;
  for (let start = keepBelow(oldSize, newSize, blockSize); start < count; start += FILL_BATCH) {
    const end = Math.min(count, start + FILL_BATCH);
    const batch = Buffer.alloc((end - start) * HASH_BYTES);
    for (let i = start; i < end; i++) entryAfterResize(i, oldSize, newSize, blockSize).copy(batch, (i - start) * HASH_BYTES);
    await m.writeEntries(start, batch);
  }
}

const DIGEST_DOMAIN = Buffer.from('vmmirror-manifest-1\0', 'ascii');

/** Starts a manifest digest for a file of `fileSize` bytes in `blockSize` blocks. */
export function startManifestDigest(blockSize: number, fileSize: number): IncrementalHash {
  const h = incrementalHash();
  const head = Buffer.alloc(12);
  head.writeUInt32LE(blockSize, 0);
  head.writeBigUInt64LE(BigInt(fileSize), 4);
  h.update(DIGEST_DOMAIN);
  h.update(head);
  return h;
}

/** Streams the resulting manifest's entries into a digest, in index order. */
export class ManifestMerger {
  private next = 0;
  private readonly window: ManifestWindow;
  /** A second window for lookups ahead of the digest's position. */
  private readonly lookup: ManifestWindow;
  private readonly digest: IncrementalHash;
  private readonly content: IncrementalHash;
  private readonly indexBuf = Buffer.alloc(8);
  /** Entries below this index keep their old hash; the rest become unknown unless sent. */
  readonly keep: number;
  readonly newCount: number;

  /** `isLive(i)` selects the blocks that make up the content digest (all blocks when omitted). */
  private readonly oldSize: number;

  constructor(
    old: ManifestFile | null,
    private readonly blockSize: number,
    private readonly newSize: number,
    private readonly isLive: (index: number) => boolean = () => true,
  ) {
    this.window = new ManifestWindow(old);
    this.lookup = new ManifestWindow(old);
    this.oldSize = old?.fileSize ?? 0;
    this.keep = Math.min(keepBelow(this.oldSize, newSize, blockSize), this.window.entryCount);
    this.newCount = entryCountFor(newSize, blockSize);
    this.digest = startManifestDigest(blockSize, newSize);
    this.content = incrementalHash();
    this.content.update(DIGEST_DOMAIN);
  }

  /** The entry block i holds before this cycle's blocks are applied (old entry, or what the resize leaves). */
  async baseEntries(start: number, count: number): Promise<Uint8Array> {
    const out = await this.lookup.entries(start, count);
    for (let i = Math.max(start, this.keep); i < start + count; i++) this.afterResize(i).copy(out, (i - start) * HASH_BYTES);
    return out;
  }

  private afterResize(i: number): Buffer {
    return entryAfterResize(i, this.oldSize, this.newSize, this.blockSize);
  }

  /** Digest of the live blocks' resulting hashes (with their indexes); valid after finish(). */
  contentDigest(): string {
    return this.content.digestHex();
  }

  /** The entry S holds now for block `i` (unknown past the old end): what P compares against. */
  oldEntry(i: number): Promise<Buffer> {
    return this.window.entry(i);
  }

  /** Records that block `index` is sent with `hash`; indexes must increase. */
  async put(index: number, hash: Buffer): Promise<void> {
    if (index < this.next || index >= this.newCount) throw new RangeError(`manifest merge: index ${index} out of order`);
    await this.fill(index);
    this.digest.update(hash);
    this.addContent(index, hash);
    this.next = index + 1;
  }

  /** Completes the digest (hex). */
  async finish(): Promise<string> {
    await this.fill(this.newCount);
    return this.digest.digestHex();
  }

  private addContent(index: number, hash: Buffer): void {
    if (!this.isLive(index)) return;
    this.indexBuf.writeUInt32LE(index % 2 ** 32, 0);
    this.indexBuf.writeUInt32LE(Math.floor(index / 2 ** 32), 4);
    this.content.update(Buffer.concat([this.indexBuf, hash]));
  }

  // Feeds entries [next, upTo) in batches: one hash update per batch, never one per entry, so a
  // multi-terabyte manifest costs a few napi calls per 4096 blocks.
  private async fill(upTo: number): Promise<void> {
    while (this.next < upTo) {
      const end = Math.min(upTo, this.next + FILL_BATCH);
      const keepEnd = Math.max(this.next, Math.min(end, this.keep));
      const entries = Buffer.alloc((end - this.next) * HASH_BYTES);
      if (keepEnd > this.next) (await this.window.slice(this.next, keepEnd - this.next)).copy(entries, 0);
      for (let i = keepEnd; i < end; i++) this.afterResize(i).copy(entries, (i - this.next) * HASH_BYTES);
      this.digest.update(entries);
      const live = Buffer.allocUnsafe((end - this.next) * CONTENT_RECORD);
      let used = 0;
      for (let i = this.next; i < end; i++) {
        if (!this.isLive(i)) continue;
        live.writeUInt32LE(i % 2 ** 32, used);
        live.writeUInt32LE(Math.floor(i / 2 ** 32), used + 4);
        entries.copy(live, used + 8, (i - this.next) * HASH_BYTES, (i - this.next + 1) * HASH_BYTES);
        used += CONTENT_RECORD;
      }
      if (used > 0) this.content.update(live.subarray(0, used));
      this.next = end;
    }
  }
}

const FILL_BATCH = 8192;
const CONTENT_RECORD = 8 + HASH_BYTES;

/** Digest of a manifest as it is on disk (after apply, or to check a cached copy). */
export async function digestManifestFile(m: ManifestFile | null, blockSize: number): Promise<string> {
  const merger = new ManifestMerger(m, blockSize, m?.fileSize ?? 0);
  return merger.finish();
}
