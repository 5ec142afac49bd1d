// Sending-side bandwidth limit: a token bucket refilled at `bytesPerSec`. One bucket may be shared by
// every connection of an agent to make the limit per agent. Callers go into debt for a large take
// and wait it off, so a frame bigger than the burst still passes (at the average rate).

/** A byte-rate limiter: await take(n) before sending n bytes. */
export class TokenBucket {
  private tokens: number;
  private last = performance.now();
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly bytesPerSec: number,
    readonly burstBytes: number = Math.max(64 * 1024, Math.floor(bytesPerSec / 10)),
  ) {
    if (!(bytesPerSec > 0) || !Number.isFinite(bytesPerSec)) throw new RangeError('bytesPerSec must be a positive number');
    if (!(burstBytes > 0)) throw new RangeError('burstBytes must be positive');
    this.tokens = burstBytes;
  }

  /** Resolves once `n` bytes may be sent; callers are served in order. */
  take(n: number): Promise<void> {
    const turn = this.queue.then(() => this.wait(n));
    this.queue = turn;
    return turn;
  }

  private async wait(n: number): Promise<void> {
    this.refill();
    this.tokens -= n;
    if (this.tokens >= 0) return;
    const ms = (-this.tokens / this.bytesPerSec) * 1000;
    await new Promise((resolve) => setTimeout(resolve, Math.ceil(ms)));
  }

  private refill(): void {
    const now = performance.now();
    this.tokens = Math.min(this.burstBytes, this.tokens + ((now - this.last) / 1000) * this.bytesPerSec);
    this.last = now;
  }
}
