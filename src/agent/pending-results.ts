import type { Logger } from '../log';
import type { ApplyReport } from '../replication';

// The secondary's outcomes of received streams, each waiting for the primary's cycle.result, which
// may never come (the primary died or gave up). Bounded two ways: a newer stream of a module
// replaces the older outcome (the primary runs one cycle of a module at a time, so it will never
// ask for the older one), and an outcome expires `ttlMs` after it settled.

export interface Pending {
  module: string;
  /** The epoch the cycle ran under (its cycle.begin's); the acknowledgement carries it. */
  epoch: number;
  result: Promise<ApplyReport>;
}

export class PendingResults {
  private readonly byStream = new Map<string, Pending>();

  constructor(
    private readonly ttlMs: number,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.byStream.size;
  }

  add(streamId: string, module: string, epoch: number, result: Promise<ApplyReport>): void {
    for (const [id, r] of this.byStream) {
      if (r.module !== module) continue;
      this.byStream.delete(id);
      this.log.info({ module, streamId: id }, 'outcome of an earlier stream dropped: its cycle.result never came');
    }
    const entry = { module, epoch, result };
    this.byStream.set(streamId, entry);
    const expire = (): void => {
      setTimeout(() => {
        if (this.byStream.get(streamId) !== entry) return;
        this.byStream.delete(streamId);
        this.log.info({ module, streamId }, 'outcome of a stream dropped: its cycle.result never came');
      }, this.ttlMs).unref();
    };
    result.then(expire, expire);
  }

  /** The outcome of `streamId` (and its epoch) if it belongs to `module`. */
  get(streamId: string, module: string): Pending | undefined {
    const r = this.byStream.get(streamId);
    return r === undefined || r.module !== module ? undefined : r;
  }

  /** Forgets an outcome once it was answered (each is answered once). */
  delete(streamId: string): void {
    this.byStream.delete(streamId);
  }

  /** Every outcome still pending (to wait for applies at shutdown). */
  all(): Array<Promise<ApplyReport>> {
    return [...this.byStream.values()].map((r) => r.result);
  }
}
