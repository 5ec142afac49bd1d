import type { FileHandle } from 'node:fs/promises';
import { ReplicationError, fromNodeError } from '../../errors';
import { HASH_BYTES } from '../hash';
import { RESET_HINT } from '../util/json-file';
import { createFresh, openExisting } from '../util/safe-open';
import { writeAll } from '../util/write-all';

// On-disk manifest of one replica file: one BLAKE3 hash per block of what the REPLICA holds
// (all zeros = unknown). S owns it (DESIGN I2: S is the authority on what it holds); P reads it,
// or a cached copy, to decide what to send. Never loaded whole: entries are read in windows.
//
// Layout: 64-byte header | entryCount x 32-byte hashes.
//   0  "VMMMANI1"   8  u32 version (1)   12 u32 blockSize   16 u64 fileSize   24 u64 entryCount

const MAGIC = Buffer.from('VMMMANI1', 'ascii');
export const MANIFEST_HEADER_BYTES = 64;

/** Number of blocks (manifest entries) of a file of `fileSize` bytes. */
export function entryCountFor(fileSize: number, blockSize: number): number {
  return Math.ceil(fileSize / blockSize);
}

export interface ManifestInfo {
  blockSize: number;
  fileSize: number;
  entryCount: number;
}

/** Random-access handle on a manifest file. */
export class ManifestFile implements ManifestInfo {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    public blockSize: number,
    public fileSize: number,
  ) {}

  get entryCount(): number {
    return entryCountFor(this.fileSize, this.blockSize);
  }

  /** Creates (or replaces) an empty manifest describing a 0-byte file; never through a link. */
  static async create(path: string, blockSize: number): Promise<ManifestFile> {
    const fh = await createFresh(path, 0o600, 'w+');
    const m = new ManifestFile(path, fh, blockSize, 0);
    try {
      await m.writeHeader();
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
    return m;
  }

  /**
   * Opens an existing manifest; refuses a damaged one (REPLICA_INVALID). `lengthMayBeTorn`: the
   * caller resizes it next (applying a committed journal), so a file length that disagrees with a
   * valid header is accepted: setFileSize cuts the file before it rewrites the header, and a crash
   * between the two leaves exactly that (test/replication/crash.test.ts).
   */
  static async open(path: string, mode: 'r' | 'r+' = 'r+', o: { lengthMayBeTorn?: boolean } = {}): Promise<ManifestFile> {
    // No-follow, one link (FILE_NOT_FOUND when absent; REPLICA_UNSAFE_PATH for a link).
    const fh = await openExisting(path, mode);
    try {
      const head = Buffer.alloc(MANIFEST_HEADER_BYTES);
      const { bytesRead } = await fh.read(head, 0, head.length, 0);
      if (bytesRead !== head.length || !head.subarray(0, 8).equals(MAGIC) || head.readUInt32LE(8) !== 1) {
        throw new ReplicationError('REPLICA_INVALID', `${path}: not a vmmirror manifest; ${RESET_HINT}`);
      }
      const blockSize = head.readUInt32LE(12);
      const fileSize = Number(head.readBigUInt64LE(16));
      const count = Number(head.readBigUInt64LE(24));
      const { size } = await fh.stat();
      if (count !== entryCountFor(fileSize, blockSize) || (size !== MANIFEST_HEADER_BYTES + count * HASH_BYTES && o.lengthMayBeTorn !== true)) {
        throw new ReplicationError('REPLICA_INVALID', `${path}: manifest size does not match its header (truncated or extended by hand?); ${RESET_HINT}`);
      }
      return new ManifestFile(path, fh, blockSize, fileSize);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Reads `count` entries from `start` (must lie inside the manifest). */
  async readEntries(start: number, count: number, into?: Buffer): Promise<Buffer> {
    if (start < 0 || count < 0 || start + count > this.entryCount) {
      throw new ReplicationError('REPLICA_INVALID', `${this.path}: entries ${start}+${count} outside manifest of ${this.entryCount}`);
    }
    const buf = into ?? Buffer.alloc(count * HASH_BYTES);
    const want = count * HASH_BYTES;
    let done = 0;
    while (done < want) {
      const { bytesRead } = await this.fh.read(buf, done, want - done, MANIFEST_HEADER_BYTES + start * HASH_BYTES + done);
      if (bytesRead === 0) throw new ReplicationError('REPLICA_INVALID', `${this.path}: manifest truncated; ${RESET_HINT}`);
      done += bytesRead;
    }
    return buf.subarray(0, want);
  }

  /** Writes entries starting at `start` (hashes back to back). */
  async writeEntries(start: number, hashes: Buffer): Promise<void> {
    await writeAll(this.fh, hashes, MANIFEST_HEADER_BYTES + start * HASH_BYTES, this.path);
  }

  /** Resizes to describe a file of `fileSize` bytes; new entries read as unknown (zeros). */
  async setFileSize(fileSize: number): Promise<void> {
    this.fileSize = fileSize;
    await this.fh.truncate(MANIFEST_HEADER_BYTES + this.entryCount * HASH_BYTES).catch((e: unknown) => {
      throw fromNodeError(e, this.path);
    });
    await this.writeHeader();
  }

  /** Marks entries [from, to) unknown. */
  async invalidate(from: number, to: number): Promise<void> {
    const batch = 4096;
    const zeros = Buffer.alloc(Math.min(batch, Math.max(0, to - from)) * HASH_BYTES);
    for (let i = from; i < to; i += batch) {
      const n = Math.min(batch, to - i);
      await this.writeEntries(i, zeros.subarray(0, n * HASH_BYTES));
    }
  }

  async sync(): Promise<void> {
    await this.fh.sync().catch((e: unknown) => {
      throw fromNodeError(e, this.path);
    });
  }

  async close(): Promise<void> {
    await this.fh.close();
  }

  private async writeHeader(): Promise<void> {
    const head = Buffer.alloc(MANIFEST_HEADER_BYTES);
    MAGIC.copy(head, 0);
    head.writeUInt32LE(1, 8);
    head.writeUInt32LE(this.blockSize, 12);
    head.writeBigUInt64LE(BigInt(this.fileSize), 16);
    head.writeBigUInt64LE(BigInt(this.entryCount), 24);
    await writeAll(this.fh, head, 0, this.path);
  }
}
