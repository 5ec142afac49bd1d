import { ReplicationError } from '../../errors';

// Pulls exact-size pieces out of a chunked byte stream, holding at most one piece plus one
// chunk: the caller bounds the piece size, so memory stays bounded whatever arrives.

export class ByteReader {
  private readonly it: AsyncIterator<Uint8Array>;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private done = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  /** Exactly `n` bytes; null if the stream ended cleanly before the first byte; throws if it ends midway. */
  async read(n: number): Promise<Buffer | null> {
    while (this.buffered < n && !this.done) {
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        break;
      }
      const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
      if (b.length === 0) continue;
      this.chunks.push(b);
      this.buffered += b.length;
    }
    if (this.buffered === 0 && this.done) return null;
    if (this.buffered < n) {
      throw new ReplicationError('STREAM_TRUNCATED', `delta stream ended in the middle of a frame (${this.buffered} of ${n} bytes)`);
    }
    return this.take(n);
  }

  /** Lets the source clean up (e.g. destroy a socket) when we stop early. */
  async close(): Promise<void> {
    if (!this.done && this.it.return) await this.it.return();
    this.done = true;
  }

  private take(n: number): Buffer {
    if (this.chunks[0].length === n) {
      this.buffered -= n;
      return this.chunks.shift() as Buffer;
    }
    if (this.chunks[0].length > n) {
      const head = this.chunks[0];
      this.chunks[0] = head.subarray(n);
      this.buffered -= n;
      return head.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, k);
      filled += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return out;
  }
}
