import { EventEmitter } from 'node:events';
import { nextDeadline, step, type ClusterEvent, type ClusterSnapshot, type Effect, type PeerModuleView } from '../../cluster';
import { mayRun, quorumUntil, runnableUntil } from '../../cluster/lease';
import { peerAlive } from '../../cluster/detector';
import { PeerError, VmmirrorError } from '../../errors';
import type { Logger } from '../../log';
import { monoNow } from '../../util/mono';
import type { ClusterModuleView } from '../messages';

// The agent's side of the cluster layer: it owns the one ClusterSnapshot, feeds step() every
// event (with the host's monotonic clock), logs each transition, hands the effects to the
// effect runner and ticks at the instant nextDeadline() names (at least every TICK_MS), so a
// fence is never late because nothing else happened. step() is synchronous: dispatch is too,
// so events are applied one at a time, in arrival order.

type Omit2<T, K extends keyof any> = T extends unknown ? Omit<T, K> : never;
export type RuntimeEvent = Omit2<ClusterEvent, 'now'>;

const TICK_MS = 250;

export interface RuntimeHooks {
  /** Carries out the effects of one step (the runner queues them per module, in order). */
  effects(e: Effect[]): void;
  /** Called after every applied event (guard lease file, status). */
  changed(s: ClusterSnapshot): void;
}

export class ClusterRuntime extends EventEmitter {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Modules in a planned handover away: the runner drives the VM, not the machine. */
  readonly handingOver = new Set<string>();
  /** Claims the runtime waits for itself (a handover's), keyed module:epoch; not fed to the machine. */
  private readonly ownClaims = new Map<string, (e: Extract<ClusterEvent, { type: 'witness-claim' }> | null) => void>();

  constructor(
    private snap: ClusterSnapshot,
    private readonly hooks: RuntimeHooks,
    private readonly log: Logger,
    private readonly now: () => number = monoNow,
  ) {
    super();
  }

  get snapshot(): ClusterSnapshot {
    return this.snap;
  }

  start(): void {
    this.dispatch({ type: 'tick' });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const resolve of this.ownClaims.values()) resolve(null);
    this.ownClaims.clear();
  }

  dispatch(e: RuntimeEvent): void {
    if (this.stopped) return;
    if (e.type === 'witness-claim' || (e.type === 'effect-failed' && e.effect === 'claim-epoch')) {
      const key = e.type === 'witness-claim' ? `${e.module}:${e.epoch}` : [...this.ownClaims.keys()].find((k) => k.startsWith(`${e.module}:`));
      const own = key === undefined ? undefined : this.ownClaims.get(key);
      if (key !== undefined && own !== undefined) {
        this.ownClaims.delete(key);
        own(e.type === 'witness-claim' ? { ...e, now: this.now() } : null);
        return;
      }
    }
    const now = Math.max(this.now(), this.snap.now);
    let r: ReturnType<typeof step>;
    try {
      r = step(this.snap, { ...e, now } as ClusterEvent);
    } catch (err) {
      // A contradiction the machine refuses (an invariant): keep the last good snapshot, loudly.
      this.log.error({ event: 'cluster-invariant', input: e.type, err }, 'cluster layer refused an event');
      this.schedule();
      return;
    }
    this.snap = r.next;
    for (const t of r.transitions) {
      this.log.info({ event: 'module-state', module: t.module, from: t.from, to: t.to, epoch: t.epoch, reason: t.reason }, `${t.module}: ${t.from} -> ${t.to}${t.reason ? ` (${t.reason})` : ''}`);
    }
    if (r.effects.length > 0) this.hooks.effects(r.effects);
    this.hooks.changed(this.snap);
    this.emit('changed', this.snap, r.transitions);
    this.schedule();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    const now = this.now();
    const deadline = nextDeadline(this.snap);
    const wait = Math.max(0, Math.min(TICK_MS, deadline === null ? TICK_MS : Math.ceil(deadline - now) + 1));
    this.timer = setTimeout(() => this.dispatch({ type: 'tick' }), wait);
    this.timer.unref?.();
  }

  /** What this host says of each module in its heartbeats. */
  views(): Record<string, ClusterModuleView> {
    const out: Record<string, ClusterModuleView> = {};
    for (const m of Object.values(this.snap.modules)) out[m.name] = { state: m.state, epoch: m.epoch, owner: m.owner, generation: m.generation, vm: m.vm, waitReason: m.waitReason };
    return out;
  }

  peerAlive(): boolean {
    return peerAlive(this.snap.detector, this.now(), this.snap.settings.peerTimeoutMs);
  }

  /** True while this host holds quorum (or needs none: no witness). */
  holdsQuorum(): boolean {
    const s = this.snap;
    return !s.settings.witness || mayRun(this.now(), quorumUntil(s.lease.fromPeerUntil, s.lease.fromWitnessUntil), s.settings);
  }

  /** Host monotonic instant until which this host may run its VMs (null: no lease). */
  runnableUntil(): number | null {
    const s = this.snap;
    return runnableUntil(quorumUntil(s.lease.fromPeerUntil, s.lease.fromWitnessUntil), s.settings);
  }

  /** The epoch a scheduled cycle of `module` runs under: PRIM here, VM running, peer in SECOND at that epoch. */
  sendEpoch(module: string): number | null {
    const m = this.snap.modules[module];
    if (m === undefined || this.handingOver.has(module)) return null;
    const p: PeerModuleView | undefined = this.snap.peerModules[module];
    if (m.state !== 'PRIM' || m.owner !== this.snap.self || m.vm !== 'running' || !this.peerAlive()) return null;
    return p !== undefined && p.state === 'SECOND' && p.epoch === m.epoch ? m.epoch : null;
  }

  /** Refuses (throws) unless this host is the one that sends `module` at `epoch` (a resync or a final cycle). */
  assertOwner(module: string, epoch: number, states: Array<'PRIM' | 'ALONE'>): void {
    const m = this.snap.modules[module];
    if (m === undefined) throw new VmmirrorError('MODULE_NOT_FOUND', `no module named ${module} on ${this.snap.self}`);
    if (epoch < m.epoch) throw new VmmirrorError('STALE_EPOCH', `module ${module}: epoch ${epoch} is stale here (now ${m.epoch})`);
    if (m.owner !== this.snap.self || epoch !== m.epoch || !states.includes(m.state as 'PRIM' | 'ALONE')) {
      throw new VmmirrorError('MODULE_NOT_PRIMARY', `module ${module}: ${this.snap.self} does not run it at epoch ${epoch} (state ${m.state}, epoch ${m.epoch}, owner ${m.owner ?? 'none'})`);
    }
  }

  /**
   * The receiver's gate (ReplicaSide): this host takes a stream of `module` only from the owner at
   * the epoch it knows, while it holds the replica (SECOND, or WAIT for a resync) with the VM off.
   */
  gate(module: string, epoch: number): void {
    const m = this.snap.modules[module];
    if (m === undefined) throw new VmmirrorError('MODULE_NOT_FOUND', `no module named ${module} on ${this.snap.self}`);
    if (epoch < m.epoch) throw new VmmirrorError('STALE_EPOCH', `module ${module}: a stream of epoch ${epoch} is stale; ${this.snap.self} knows epoch ${m.epoch} (owner ${m.owner ?? 'none'})`);
    if (epoch > m.epoch) throw new VmmirrorError('STALE_EPOCH', `module ${module}: epoch ${epoch} is not yet known here (${this.snap.self} knows ${m.epoch}); retried after the next heartbeat`);
    const receiving = m.state === 'SECOND' || (m.state === 'WAIT' && (m.waitReason === 'resync' || m.waitReason === 'resync-failed'));
    if (!receiving || m.owner !== this.snap.peerName || m.vm !== 'off') {
      throw new PeerError('MODULE_NOT_SECONDARY', `module ${module}: ${this.snap.self} does not hold its replica now (state ${m.state}, owner ${m.owner ?? 'none'}, VM ${m.vm})`);
    }
  }

  /** Waits for the witness's answer to a claim the runtime made itself (a handover). */
  awaitOwnClaim(module: string, epoch: number, timeoutMs: number): Promise<Extract<ClusterEvent, { type: 'witness-claim' }> | null> {
    return new Promise((resolve) => {
      const key = `${module}:${epoch}`;
      const timer = setTimeout(() => {
        this.ownClaims.delete(key);
        resolve(null);
      }, timeoutMs);
      this.ownClaims.set(key, (e) => {
        clearTimeout(timer);
        resolve(e);
      });
    });
  }
}
