import { open, type FileHandle } from 'node:fs/promises';
import { fromNodeError } from '../../errors';
import { HASH_BYTES } from '../hash';
import { writeAll } from '../util/write-all';

// A record of what one delta stream sent (file index, block index, hash), appended on disk so its
// size never weighs on memory. After the receiver acknowledges, the sender replays it onto its
// copy of the receiver's manifest (sender-cache.ts).

const RECORD_BYTES = 8 + 8 + HASH_BYTES;

export class SentLogWriter {
  private pos = 0;
  private pending: Buffer[] = [];
  private constructor(
    private readonly fh: FileHandle,
    private readonly path: string,
  ) {}

  static async create(path: string): Promise<SentLogWriter> {
    return new SentLogWriter(
      await open(path, 'w', 0o600).catch((e: unknown) => {
        throw fromNodeError(e, path);
      }),
      path,
    );
  }

  /** Records one sent block. */
  async add(fileIndex: number, index: number, hash: Buffer): Promise<void> {
    const r = Buffer.alloc(RECORD_BYTES);
    r.writeUInt32LE(fileIndex, 0);
    r.writeBigUInt64LE(BigInt(index), 8);
    hash.copy(r, 16);
    this.pending.push(r);
    if (this.pending.length >= 1024) await this.flush();
  }

  async close(): Promise<void> {
    await this.flush();
    await this.fh.close();
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const b = Buffer.concat(this.pending);
    this.pending = [];
    // Complete or an error: a short write would drop sent blocks from P's manifest replay.
    await writeAll(this.fh, b, this.pos, this.path);
    this.pos += b.length;
  }
}

/** Reads a sent log back, in order. */
export async function* readSentLog(path: string): AsyncGenerator<{ fileIndex: number; index: number; hash: Buffer }> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(RECORD_BYTES * 1024);
    let pos = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead < RECORD_BYTES) return;
      for (let p = 0; p + RECORD_BYTES <= bytesRead; p += RECORD_BYTES) {
        yield { fileIndex: buf.readUInt32LE(p), index: Number(buf.readBigUInt64LE(p + 8)), hash: Buffer.from(buf.subarray(p + 16, p + 16 + HASH_BYTES)) };
      }
      pos += bytesRead - (bytesRead % RECORD_BYTES);
    }
  } finally {
    await fh.close();
  }
}
