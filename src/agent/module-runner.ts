import type { ResolvedModule } from '../config';
import { VmmirrorError } from '../errors';
import type { Logger } from '../log';
import type { CycleReport } from './cycle-report';
import type { ModuleRole } from './role';
import { startSchedule, type Schedule } from './schedule';
import type { Semaphore } from './semaphore';

// One module's loop: its schedule, at most one cycle at a time, and what the last cycle did.

export interface RunnerDeps {
  semaphore: Semaphore;
  cycle(m: ResolvedModule, signal: AbortSignal): Promise<CycleReport>;
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
    readonly role: ModuleRole,
    private readonly deps: RunnerDeps,
  ) {}

  /** Starts the schedule (primaries only: a secondary waits for its peer's cycles). */
  start(): void {
    if (this.role !== 'primary' || this.schedule !== null) return;
    this.schedule = startSchedule(this.module.replication.interval, () => {
      if (this.inFlight !== null) return; // a cycle never overlaps itself; this tick is skipped
      this.run().catch(() => undefined);
    });
  }

  get running(): boolean {
    return this.inFlight !== null;
  }

  nextAt(): Date | null {
    return this.schedule?.nextAt() ?? null;
  }

  /** Runs a cycle now; if one is running, waits for it and then runs a fresh one (sync semantics). */
  async syncNow(): Promise<CycleReport> {
    if (this.inFlight !== null) await this.inFlight.catch(() => undefined);
    return this.run();
  }

  private run(): Promise<CycleReport> {
    if (this.inFlight !== null) return this.inFlight;
    const p = (async () => {
      const release = await this.deps.semaphore.acquire(this.abort.signal);
      try {
        this.abort.signal.throwIfAborted();
        const r = await this.deps.cycle(this.module, this.abort.signal);
        this.lastCycle = r;
        this.lastError = null;
        this.deps.log.info({ module: this.module.name, generation: r.toGeneration, bytes: r.streamBytes, ms: r.durationMs, detection: r.detection }, 'cycle done');
        return r;
      } catch (err) {
        const e = err instanceof VmmirrorError ? err : new VmmirrorError('INTERNAL', err instanceof Error ? err.message : String(err), { cause: err });
        this.lastError = { code: e.code, message: e.message, at: new Date() };
        this.deps.log.warn({ module: this.module.name, err }, 'cycle failed; replica stays on its generation');
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
