import { VmmirrorError } from '../errors';

// One deadline per cycle (CycleTimeoutSeconds from its start), combined with the caller's signal
// (agent stop, or the cluster pre-empting the cycle). Every wait of the cycle is raced against it,
// and every call that takes a timeout gets the time left (plus a little grace, so the deadline,
// not the call's own timer, is what ends the cycle and the error says so: CYCLE_TIMEOUT).

/** Extra time a call's own timeout gets past the deadline: it only cleans up after the race was lost. */
const CALL_GRACE_MS = 1000;

export class CycleDeadline {
  /** Aborts at the deadline (reason CYCLE_TIMEOUT) or when the caller's signal aborts (its reason). */
  readonly signal: AbortSignal;
  private readonly at: number;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly timeoutMs: number,
    outer: AbortSignal,
    what: string,
  ) {
    this.at = performance.now() + timeoutMs;
    const own = new AbortController();
    this.timer = setTimeout(() => own.abort(new VmmirrorError('CYCLE_TIMEOUT', `${what}: the cycle did not finish within its ${Math.round(timeoutMs / 1000)} s (Agent.CycleTimeoutSeconds)`)), timeoutMs);
    this.timer.unref();
    this.signal = AbortSignal.any([outer, own.signal]);
  }

  /** Milliseconds left before the deadline (0 when past). */
  remaining(): number {
    return Math.max(0, Math.ceil(this.at - performance.now()));
  }

  /** The timeout to give a call that takes one: the time left, plus the grace. */
  callTimeout(): number {
    this.check();
    return this.remaining() + CALL_GRACE_MS;
  }

  /** Throws the abort reason when the cycle must end. */
  check(): void {
    this.signal.throwIfAborted();
  }

  /**
   * Waits for `p` unless the cycle ends first (then rejects with the reason). A value that arrives
   * after the race was lost goes to `late` (a frozen view nobody holds must still be released).
   */
  race<T>(p: Promise<T>, late?: (value: T) => void): Promise<T> {
    this.check();
    return new Promise<T>((resolve, reject) => {
      let lost = false;
      const onAbort = (): void => {
        lost = true;
        reject(this.signal.reason);
      };
      this.signal.addEventListener('abort', onAbort, { once: true });
      p.then(
        (v) => {
          this.signal.removeEventListener('abort', onAbort);
          if (lost) late?.(v);
          else resolve(v);
        },
        (err: unknown) => {
          this.signal.removeEventListener('abort', onAbort);
          if (!lost) reject(err);
        },
      );
    });
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}
