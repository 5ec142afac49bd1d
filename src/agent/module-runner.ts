import type { ResolvedModule } from '../config';
import { VmmirrorError } from '../errors';
import type { Logger } from '../log';
import type { CycleReport } from './cycle-report';
import { startSchedule, type Schedule } from './schedule';
import type { Semaphore } from './semaphore';

// One module's replication loop: its schedule, at most one cycle at a time, and what the last
// cycle did. Whether a tick sends anything is the cluster layer's call, asked at every tick
// (`epoch()`: the epoch to send under, or null while this host does not run the module with the
// peer holding its replica), so roles change without restarting the loop.

export interface RunnerDeps {
  semaphore: Semaphore;
  cycle(m: ResolvedModule, o: { epoch: number; signal: AbortSignal }): Promise<CycleReport>;
  /** The epoch a scheduled cycle runs under now, or null (not this host's to send). */
  epoch(): number | null;
  /** After each successful cycle (the cluster layer learns the new generation). */
  done?(r: CycleReport, epoch: number): void;
  log: Logger;
}

export interface LastError {
  code: string;
  message: string;
  at: Date;
}

export class ModuleRunner {
  private schedule: Schedule | null = null;
  private inFlight: Promise<CycleReport> | null = null;
  private readonly abort = new AbortController();
  lastCycle: CycleReport | null = null;
  lastError: LastError | null = null;

  constructor(
    readonly module: ResolvedModule,
    private readonly deps: RunnerDeps,
  ) {}

  /** Starts the schedule; each tick runs a cycle only when the cluster layer names an epoch. */
  start(): void {
    if (this.schedule !== null) return;
    this.schedule = startSchedule(this.module.replication.interval, () => {
      if (this.inFlight !== null) return; // a cycle never overlaps itself; this tick is skipped
      const epoch = this.deps.epoch();
      if (epoch === null) return;
      this.run(epoch).catch(() => undefined);
    });
  }

  get running(): boolean {
    return this.inFlight !== null;
  }

  nextAt(): Date | null {
    return this.schedule?.nextAt() ?? null;
  }

  /**
   * Runs a cycle now; if one is running, waits for it and then runs a fresh one (sync semantics).
   * `epoch` forces the epoch (a resync or a handover's final cycle, which the schedule would not
   * send); without it the cluster layer's current answer is used.
   */
  async syncNow(epoch?: number): Promise<CycleReport> {
    if (this.inFlight !== null) await this.inFlight.catch(() => undefined);
    const e = epoch ?? this.deps.epoch();
    if (e === null) throw new VmmirrorError('MODULE_NOT_PRIMARY', `module ${this.module.name}: this host does not run it with the peer holding its replica now (see vmmirror status)`);
    return this.run(e);
  }

  private run(epoch: number): Promise<CycleReport> {
    if (this.inFlight !== null) return this.inFlight;
    const p = (async () => {
      const release = await this.deps.semaphore.acquire(this.abort.signal);
      try {
        this.abort.signal.throwIfAborted();
        const r = await this.deps.cycle(this.module, { epoch, signal: this.abort.signal });
        this.lastCycle = r;
        this.lastError = null;
        this.deps.log.info({ module: this.module.name, epoch, generation: r.toGeneration, bytes: r.streamBytes, ms: r.durationMs, detection: r.detection }, 'cycle done');
        this.deps.done?.(r, epoch);
        return r;
      } catch (err) {
        const e = err instanceof VmmirrorError ? err : new VmmirrorError('INTERNAL', err instanceof Error ? err.message : String(err), { cause: err });
        this.lastError = { code: e.code, message: e.message, at: new Date() };
        this.deps.log.warn({ module: this.module.name, epoch, err }, 'cycle failed; replica stays on its generation');
        throw e;
      } finally {
        release();
      }
    })();
    this.inFlight = p;
    p.finally(() => {
      if (this.inFlight === p) this.inFlight = null;
    }).catch(() => undefined);
    return p;
  }

  /** Stops the schedule; lets the in-flight cycle finish for `graceMs`, then aborts it (the journal makes that safe). */
  async stop(graceMs: number): Promise<void> {
    this.schedule?.stop();
    this.schedule = null;
    const current = this.inFlight;
    if (current === null) {
      this.abort.abort(new VmmirrorError('CANCELLED', 'agent stopping'));
      return;
    }
    const timer = setTimeout(() => this.abort.abort(new VmmirrorError('CANCELLED', 'agent stopping')), graceMs);
    await current.catch(() => undefined);
    clearTimeout(timer);
    this.abort.abort(new VmmirrorError('CANCELLED', 'agent stopping'));
  }
}
