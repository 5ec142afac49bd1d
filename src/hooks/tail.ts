// The last N bytes of a stream, in bounded memory: chunks are kept until they exceed the bound, then
// the oldest are dropped (or cut). A hook writing gigabytes costs at most N bytes plus one chunk.

export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Bytes seen in all (kept or dropped). */
  total = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.total += chunk.length;
    if (chunk.length >= this.limit) {
      // Copy the end: a slice would pin the whole (possibly large) chunk in memory.
      this.chunks = [Buffer.from(chunk.subarray(chunk.length - this.limit))];
      this.size = this.limit;
      return;
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.limit) {
      const first = this.chunks[0]!;
      const excess = this.size - this.limit;
      if (first.length <= excess) {
        this.chunks.shift();
        this.size -= first.length;
      } else {
        this.chunks[0] = Buffer.from(first.subarray(excess));
        this.size -= excess;
      }
    }
  }

  /** Bytes held now (never above the limit). */
  get heldBytes(): number {
    return this.size;
  }

  /** The tail as text; a character cut at the start shows as U+FFFD. Says how much was dropped. */
  text(): string {
    const body = Buffer.concat(this.chunks).toString('utf8');
    const dropped = this.total - this.size;
    return dropped > 0 ? `[${dropped} earlier bytes dropped]\n${body}` : body;
  }
}
