import type { z } from 'zod';
import type { LoadedConfig, ResolvedModule } from '../../config';
import { VmmirrorError } from '../../errors';
import type { HookReason, HookRunner } from '../../hooks';
import type { Hypervisor, VmId } from '../../hypervisor/types';
import type { Logger } from '../../log';
import type { WitnessClient } from '../../witness';
import type { PeerConnection } from '../../peer';
import { HandoverRequest, ResyncRequest } from '../messages';
import type { ModuleRunner } from '../module-runner';
import type { EffectRunner } from './effects';
import { answerHandover } from './handover';
import { recordReturn, returnsWithin } from './returns';
import type { ClusterRuntime } from './runtime';
import { recordsDir } from './settings';

// The two moves that need both hosts: a resync (the stale host asks the owner for a cycle into
// its copy: only differing blocks move) and the planned switchover, of a failback or of an
// operator's failover (the owner stops the VM, sends a final cycle, hands the next epoch over:
// handover.ts; the asker, the host that will run it, then starts the VM: zero loss). Each host
// runs one side of each; the requests are in messages.ts.

export interface SwitchoverDeps {
  config: LoadedConfig;
  rt: ClusterRuntime;
  runners: Map<string, ModuleRunner>;
  effects: EffectRunner;
  control: Hypervisor;
  witness: WitnessClient | null;
  connection(): Promise<PeerConnection>;
  vmIdOf(m: ResolvedModule): Promise<VmId>;
  releaseReplica(module: string): Promise<{ generation: number }>;
  beforeStart(module: string): Promise<void>;
  /** True while the module's guest is hung and moved for health (health-watch.ts): the handover turns it off. */
  hungGuest?(module: string): boolean;
  /** The operator's hooks (docs/hooks.md): PreStop/PostStop on the owner, PreStart/PostStart here. */
  hooks?: HookRunner;
  /** True while `host` is in maintenance (a move away from it is a drain). */
  inMaintenance?(host: string): boolean;
  log: Logger;
}

/**
 * Why a planned switchover moves a module, the same word on both hosts: away from a host in
 * maintenance it is a drain; to its default primary a failback; else an operator's switchover.
 */
export function moveReason(d: Pick<SwitchoverDeps, 'inMaintenance'>, m: ResolvedModule, from: string, to: string): HookReason {
  if (d.inMaintenance?.(from) === true) return 'drain';
  return m.defaultPrimary === to ? 'failback' : 'switchover';
}

/** What a pre hook may add to a budget: its timeout, when the module has that hook. */
export function hookBudgetMs(d: Pick<SwitchoverDeps, 'hooks'>, m: ResolvedModule, kind: 'PreStart' | 'PreStop'): number {
  return d.hooks?.has(kind, m) === true ? (m.hooks.timeoutSeconds ?? 60) * 1000 + 5000 : 0;
}

/** The figures of one planned switchover (a failback, or an operator's failover), as the host that now runs the VM measured them. */
export interface SwitchoverFigures {
  module: string;
  from: string;
  to: string;
  /** The epoch the move took. */
  epoch: number;
  /** The generation the replica held before the final cycle (null from an older owner). */
  fromGeneration: number | null;
  generation: number;
  stopMs: number;
  syncMs: number;
  startMs: number;
  /** From the stop on the owner to the start here: the owner's handover (its clock) plus the start (ours). */
  downtimeMs: number;
  finalBytes: number;
  at: Date;
}

export class Switchover {
  /** Resync progress and outcome per module (status), and the figures of the last failback. */
  readonly resyncs = new Map<string, { startedAt: Date; bytesTotal: number; bytesDone: number; finishedAt: Date | null }>();
  readonly failbacks = new Map<string, SwitchoverFigures>();
  /** Operators waiting for the outcome of a switchover they asked for (control API), by module. */
  private readonly waiters = new Map<string, { resolve(f: SwitchoverFigures): void; reject(err: unknown): void }>();
  /** Modules whose writes made here after the last replicated generation were thrown away by a resync. */
  readonly discarded = new Set<string>();

  constructor(private readonly d: SwitchoverDeps) {}

  /** Its dependencies (the hooks and maintenance flags another move's budget counts). */
  get deps(): SwitchoverDeps {
    return this.d;
  }

  private module(name: string): ResolvedModule {
    const m = this.d.config.modules.find((x) => x.name === name);
    if (m === undefined) throw new VmmirrorError('MODULE_NOT_FOUND', `no module named ${name}`);
    return m;
  }

  private cycleBudgetMs(): number {
    return this.d.config.agent.CycleTimeoutSeconds * 1000 + 30_000;
  }

  // --- the stale host's side -------------------------------------------------------------

  async resync(module: string, epoch: number): Promise<{ generation: number }> {
    const m = this.module(module);
    this.d.log.warn(
      { event: 'resync-start', module, epoch, from: this.d.config.peer.Name },
      `${module}: the copy on ${this.d.config.self.Name} is stale (epoch ${epoch} belongs to ${this.d.config.peer.Name}); resynchronising from it. Writes made here after the last replicated generation are discarded`,
    );
    this.discarded.add(module);
    await recordReturn(recordsDir(this.d.config)).catch((err: unknown) => this.d.log.warn({ err }, 'cannot record this return for flap damping'));
    this.resyncs.set(module, { startedAt: new Date(), bytesTotal: 0, bytesDone: 0, finishedAt: null });
    const conn = await this.d.connection();
    const r = await conn.request(ResyncRequest, { module: m.name, epoch }, { timeoutMs: this.cycleBudgetMs() });
    if (r.epoch !== epoch) throw new VmmirrorError('STALE_EPOCH', `module ${module}: the owner resynchronised under epoch ${r.epoch}, expected ${epoch}`);
    this.resyncs.set(module, { ...this.resyncs.get(module)!, bytesTotal: r.diskBytes, bytesDone: r.bytes, finishedAt: new Date() });
    this.d.log.info({ event: 'resync-done', module, epoch, generation: r.generation, bytes: r.bytes, diskBytes: r.diskBytes }, `${module}: resynchronised (${r.bytes} bytes sent for ${r.diskBytes} bytes of disk)`);
    return { generation: r.generation };
  }

  // --- the owner's side of a resync --------------------------------------------------------

  async answerResync(body: z.output<typeof ResyncRequest.body>): Promise<z.input<typeof ResyncRequest.reply>> {
    this.d.rt.assertOwner(body.module, body.epoch, ['PRIM', 'ALONE']);
    const runner = this.d.runners.get(body.module)!;
    const r = await runner.syncNow(body.epoch);
    return { epoch: body.epoch, generation: r.toGeneration, bytes: r.streamBytes, diskBytes: r.files.reduce((n, f) => n + f.size, 0) };
  }

  // --- the default primary's side of a failback ----------------------------------------------

  /**
   * Registers an operator waiting for the next switchover of `module` to this host; call before
   * dispatching the operator event, so the effect that runs cannot finish unheard.
   */
  awaitOutcome(module: string): { outcome: Promise<SwitchoverFigures>; cancel(): void } {
    if (this.waiters.has(module)) throw new VmmirrorError('SWITCHOVER_REFUSED', `module ${module}: a switchover is already under way`);
    let cancel!: () => void;
    const outcome = new Promise<SwitchoverFigures>((resolve, reject) => {
      this.waiters.set(module, { resolve, reject });
      cancel = () => this.waiters.delete(module);
    });
    return { outcome, cancel };
  }

  async failback(module: string, epoch: number): Promise<{ epoch: number; generation: number }> {
    const waiter = this.waiters.get(module);
    this.waiters.delete(module);
    try {
      const figures = await this.pull(module, epoch, waiter !== undefined);
      waiter?.resolve(figures);
      return { epoch: figures.epoch, generation: figures.generation };
    } catch (err) {
      waiter?.reject(err);
      throw err;
    }
  }

  // The planned switchover to this host: the owner stops, sends the final cycle and hands the next
  // epoch over (answerHandover); this host then starts the VM. Operators' moves skip flap damping
  // (it holds back automatic returns only).
  private async pull(module: string, epoch: number, operator: boolean): Promise<SwitchoverFigures> {
    const m = this.module(module);
    const from = this.d.config.peer.Name;
    const self = this.d.config.self.Name;
    if (!operator) {
      const damping = this.d.config.agent.FailbackDamping;
      const returns = await returnsWithin(recordsDir(this.d.config), damping.WindowMinutes);
      if (returns > damping.MaxReturns) {
        throw new VmmirrorError('FAILBACK_DAMPED', `${module}: no automatic failback to ${self}: it came back ${returns} times in the last ${damping.WindowMinutes} minutes (more than ${damping.MaxReturns}); it keeps the replica until the window passes`);
      }
    }
    const t0 = performance.now();
    const conn = await this.d.connection().catch((err: unknown) => {
      throw new VmmirrorError('HANDOVER_FAILED', `switchover of ${module} to ${self} stopped at step "ask": ${(err as Error).message}; nothing moved, the VM runs on ${from}`, { cause: err });
    });
    // PreStart runs BEFORE the owner is asked to stop: a refusal after the handover would leave the
    // VM running nowhere. A failure here moves nothing (the VM keeps running on the owner).
    const reason = moveReason(this.d, m, from, self);
    // The VM id is not looked up yet: looking it up may register the replica VM, which waits for the epoch.
    await this.d.hooks?.pre('PreStart', m, reason, { epoch: epoch + 1, vmId: null }).catch((err: unknown) => {
      throw new VmmirrorError('HANDOVER_FAILED', `switchover of ${module} to ${self} stopped at step "pre-start hook": ${(err as Error).message}; nothing moved, the VM runs on ${from}`, { cause: err, details: { Module: module, Step: 'pre-start hook', HookCode: err instanceof VmmirrorError ? err.code : 'INTERNAL' } });
    });
    const budget = m.policies.stopTimeoutSeconds * 1000 + this.cycleBudgetMs() + 30_000 + hookBudgetMs(this.d, m, 'PreStop');
    // The owner's own errors name its step (stop, final sync, witness, record) and where the VM runs.
    const r = await conn.request(HandoverRequest, { module, epoch }, { timeoutMs: budget }).catch((err: unknown) => {
      if (err instanceof VmmirrorError && (err.code === 'HANDOVER_FAILED' || err.code === 'MODULE_NOT_SECONDARY' || err.code === 'MODULE_NOT_PRIMARY' || err.code === 'STALE_EPOCH')) throw err;
      // No answer: whether the owner handed over is unknown here; the epochs settle it (one runner, C1).
      throw new VmmirrorError('HANDOVER_FAILED', `switchover of ${module} to ${self} stopped at step "handover": ${(err as Error).message}; the epoch ${from} or this host holds decides where the VM runs (vmmirror status)`, { cause: err });
    });
    if (r.epoch !== epoch + 1) throw new VmmirrorError('STALE_EPOCH', `module ${module}: the owner handed over epoch ${r.epoch}, expected ${epoch + 1}`);
    // The epoch is ours (the owner recorded it, and the witness if any): start here.
    const tStart = performance.now();
    let id: VmId | null = null;
    try {
      await this.d.releaseReplica(module);
      id = await this.d.vmIdOf(m);
      await this.d.beforeStart(module);
      await this.d.control.startVm(id, { timeoutMs: m.policies.startTimeoutSeconds * 1000, waitHeartbeat: false });
    } catch (err) {
      // The epoch is ours now: the machine learns it from the next heartbeat and retries the start here.
      throw new VmmirrorError('HANDOVER_FAILED', `switchover of ${module} to ${self} stopped at step "start": ${(err as Error).message}; epoch ${r.epoch} belongs to ${self}, which starts the VM again (it runs nowhere until then)`, { cause: err });
    }
    const startMs = performance.now() - tStart;
    const figures: SwitchoverFigures = {
      module, from, to: self, epoch: r.epoch, fromGeneration: r.fromGeneration ?? null, generation: r.generation,
      stopMs: r.stopMs, syncMs: r.syncMs, startMs, downtimeMs: (r.handoverMs ?? r.stopMs + r.syncMs) + startMs, finalBytes: r.finalBytes, at: new Date(),
    };
    const postStart = await this.d.hooks?.post('PostStart', m, reason, { epoch: r.epoch, vmId: id });
    if (postStart != null && !postStart.Ok) this.d.log.warn({ event: 'hook-failed', module, hook: 'PostStart', reason }, postStart.Message ?? `${module}: PostStart hook failed`);
    this.failbacks.set(module, figures);
    this.d.log.info({ event: 'failback-done', ...figures, operator, totalMs: Math.round(performance.now() - t0) }, `${module}: moved from ${from} to ${self} (downtime ${Math.round(figures.downtimeMs)} ms)`);
    return figures;
  }

  // --- the owner's side (handover.ts) ---------------------------------------------------------

  answerHandover(body: z.output<typeof HandoverRequest.body>): Promise<z.input<typeof HandoverRequest.reply>> {
    return answerHandover(this.d, body);
  }
}
