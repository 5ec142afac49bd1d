import type { Logger } from '../log';

// Refusals of unauthenticated sockets, logged so that every one is counted but a flood cannot flood
// the log. Per source address and interval: the first refusal of each reason is one full line
// (`event: "refused"`), later ones of that interval are only counted and reported in one
// `event: "refused-summary"` line per source when the interval ends. Past `maxSources` distinct
// sources in one interval (an attacker with many addresses), refusals are counted in one overflow
// summary (`remoteAddress: null`) instead. Lines per interval are therefore bounded by
// maxSources x (reasons + 1) + 1, whatever the rate of connections.

export interface RefusalLogOptions {
  logger: Logger;
  /** Length of one counting interval (ms). */
  intervalMs: number;
  /** Distinct sources tracked per interval; others go to the overflow summary. */
  maxSources: number;
  /** `scope` field of every line (e.g. "connection"). */
  scope: string;
}

interface SourceWindow {
  logged: Set<string>;
  suppressed: Record<string, number>;
}

export class RefusalLog {
  private window = new Map<string, SourceWindow>();
  private overflow: Record<string, number> = {};
  private timer: NodeJS.Timeout | undefined;
  private windowStarted = 0;

  constructor(private readonly o: RefusalLogOptions) {}

  /** Counts one refusal of a socket from `source`; logs it in full if it is the first of its reason this interval. */
  record(source: string, reason: string, fields: Record<string, unknown> = {}): void {
    this.schedule();
    let w = this.window.get(source);
    if (!w) {
      if (this.window.size >= this.o.maxSources) {
        this.overflow[reason] = (this.overflow[reason] ?? 0) + 1;
        return;
      }
      w = { logged: new Set(), suppressed: {} };
      this.window.set(source, w);
    }
    if (!w.logged.has(reason)) {
      w.logged.add(reason);
      this.o.logger.warn({ event: 'refused', scope: this.o.scope, reason, remoteAddress: source, ...fields }, 'peer connection refused');
      return;
    }
    w.suppressed[reason] = (w.suppressed[reason] ?? 0) + 1;
  }

  /** Writes the summaries of the current interval and starts a new one. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const intervalMs = Math.round(performance.now() - this.windowStarted);
    for (const [source, w] of this.window) {
      const total = sum(w.suppressed);
      if (total > 0) this.summary(source, w.suppressed, total, intervalMs);
    }
    const overflowTotal = sum(this.overflow);
    if (overflowTotal > 0) this.summary(null, this.overflow, overflowTotal, intervalMs);
    this.window = new Map();
    this.overflow = {};
  }

  /** Flushes and stops the timer (server close). */
  close(): void {
    this.flush();
  }

  private summary(source: string | null, counts: Record<string, number>, total: number, intervalMs: number): void {
    const what = source === null ? 'from sources past the per-interval limit' : `from ${source}`;
    this.o.logger.warn(
      { event: 'refused-summary', scope: this.o.scope, remoteAddress: source, counts: { ...counts }, total, intervalMs },
      `${total} more peer connections refused ${what} (not logged one by one)`,
    );
  }

  private schedule(): void {
    if (this.timer) return;
    this.windowStarted = performance.now();
    // unref: a pending summary must not keep a stopping process alive; close() flushes it.
    this.timer = setTimeout(() => this.flush(), this.o.intervalMs).unref();
  }
}

function sum(counts: Record<string, number>): number {
  let n = 0;
  for (const v of Object.values(counts)) n += v;
  return n;
}
