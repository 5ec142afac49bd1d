import type { z } from 'zod';
import { FRESH_COUNTERS, guestSignal, judgeHealth, placedCounters, type HealthCounters } from '../../cluster/health';
import type { LoadedConfig, ResolvedModule } from '../../config';
import type { Hypervisor, VmId, VmInfo } from '../../hypervisor/types';
import type { Logger } from '../../log';
import { monoNow } from '../../util/mono';
import type { StatusDocument } from '../control/documents';
import type { HealthRecord } from './health-store';
import { healthJson, healthPolicyMs, type HealthCarry } from './health-wire';
import type { ClusterRuntime } from './runtime';

// The agent's side of VM health (docs/cluster.md "VM health"): the VM watcher hands it each
// module's VM as the hypervisor reports it; src/cluster/health.ts decides; this carries out a
// restart here (TurnOff + Start: a hung guest cannot shut down) or a move to the peer by the
// operator's planned switchover (the final cycle runs after the stop, so no write is lost), and
// keeps what status shows. While it acts on a module the VM watcher stays quiet on it, so its
// own TurnOff is not taken for a stop by hand (a VM stopped by hand goes STOP, and stays off).

export interface HealthDeps {
  config: LoadedConfig;
  rt: ClusterRuntime;
  control: Hypervisor;
  vmIdOf(m: ResolvedModule): Promise<VmId>;
  /** Lists the VM in the guard's lease before it starts again. */
  beforeStart(module: string): Promise<void>;
  /** True while the effect runner acts on the module (a fence or a stop comes first). */
  effectsBusy(module: string): boolean;
  /** Tells the peer the counts that travel with the module (HealthCarry). */
  carry(body: z.input<typeof HealthCarry.body>): Promise<void>;
  /** The planned switchover of the module to the peer (OperatorSwitchover.run). */
  relocate(module: string): Promise<void>;
  log: Logger;
  now?: () => number;
  /** The counts kept across agent restarts (health-store.ts), and where to keep them. */
  records?: Map<string, HealthRecord>;
  persist?(r: HealthRecord): Promise<void>;
}

interface ModuleHealth {
  counters: HealthCounters;
  /** The epoch the counters belong to on this host (a new epoch here is a new placement). */
  epoch: number | null;
  heartbeat: string | null;
  runsHere: boolean;
  acting: 'restart' | 'relocate' | null;
  holding: string | null;
  lastActionAt: Date | null;
  failure: string | null;
}

export class HealthWatch {
  private readonly modules = new Map<string, ModuleHealth>();
  /** Counts the peer sent with a move, taken once this host owns an epoch after `afterEpoch`. */
  private readonly carried = new Map<string, { afterEpoch: number; relocations: number; reason: string }>();
  private readonly now: () => number;
  private readonly saved = new Map<string, string>();
  private writes: Promise<void> = Promise.resolve();

  constructor(private readonly d: HealthDeps) {
    this.now = d.now ?? monoNow;
    for (const m of d.config.modules) {
      const r = d.records?.get(m.name);
      const counters: HealthCounters = r === undefined ? FRESH_COUNTERS : { ...FRESH_COUNTERS, restarts: r.Restarts, relocations: r.Relocations, givenUp: r.GivenUp, lastAction: r.LastAction === null ? null : { action: r.LastAction, at: this.now(), reason: r.LastReason ?? '' } };
      this.modules.set(m.name, { counters, epoch: r?.Epoch ?? null, heartbeat: null, runsHere: false, acting: null, holding: null, lastActionAt: r?.LastActionAt == null ? null : new Date(r.LastActionAt), failure: null });
      if (r?.Carried != null) this.carried.set(m.name, { afterEpoch: r.Carried.AfterEpoch, relocations: r.Carried.Relocations, reason: r.Carried.Reason });
      if (r !== undefined) this.saved.set(m.name, JSON.stringify(this.record(m.name)));
    }
  }

  /** Resolves once every count written so far is on disk. */
  flushed(): Promise<void> {
    return this.writes;
  }

  /** True while a restart or a move of the module's VM for health runs (the VM watcher stays quiet). */
  busy(module: string): boolean {
    return (this.modules.get(module)?.acting ?? null) !== null;
  }

  /** A hung guest being moved: the handover turns it off (it cannot shut down). */
  hung(module: string): boolean {
    return this.modules.get(module)?.acting === 'relocate';
  }

  /** What the hypervisor says of the module's VM now (null: not registered here). */
  observe(m: ResolvedModule, vm: VmInfo | null): void {
    const h = this.modules.get(m.name);
    if (h === undefined || h.acting !== null) return;
    const { rt } = this;
    const snap = rt.snapshot.modules[m.name];
    const self = this.d.config.self.Name;
    const runsHere = snap !== undefined && snap.owner === self && (snap.state === 'PRIM' || snap.state === 'ALONE') && snap.vm === 'running' && vm?.state === 'Running' && !rt.handingOver.has(m.name) && !this.d.effectsBusy(m.name);
    h.heartbeat = vm?.state === 'Running' ? vm.heartbeat : null;
    h.runsHere = runsHere;
    if (runsHere && h.epoch !== snap.epoch) this.newPlacement(m.name, h, snap.epoch);
    const peer = rt.snapshot.peerModules[m.name];
    const r = judgeHealth(h.counters, {
      now: this.now(),
      runsHere,
      signal: guestSignal(h.heartbeat),
      hostHealthy: rt.holdsQuorum() && rt.peerAlive(),
      peerCanTake: snap?.state === 'PRIM' && peer?.state === 'SECOND' && peer.epoch === snap.epoch,
    }, healthPolicyMs(m));
    h.counters = r.next;
    h.holding = r.holding;
    if (r.action !== null) h.lastActionAt = new Date();
    this.save(m.name);
    if (r.action === null) return;
    h.failure = null;
    const reason = r.next.lastAction?.reason ?? '';
    const fields = { module: m.name, restarts: r.next.restarts, relocations: r.next.relocations, reason };
    if (r.action === 'give-up') {
      this.d.log.error({ event: 'health-given-up', ...fields }, `${m.name}: health gave up: ${reason}; ${r.next.restarts} restarts here, ${r.next.relocations} relocations; the VM is left running as it is`);
      return;
    }
    h.acting = r.action;
    const run = r.action === 'restart' ? this.restart(m, reason) : this.relocate(m, snap!.epoch, r.next.relocations, reason);
    void run
      .catch((err: unknown) => {
        h.failure = err instanceof Error ? err.message : String(err);
        this.d.log.error({ event: 'health-action-failed', action: r.action, ...fields, err }, `${m.name}: health ${r.action} failed: ${h.failure}`);
      })
      .finally(() => (h.acting = null));
    this.d.log.warn({ event: `health-${r.action}`, ...fields }, `${m.name}: ${reason}: ${r.action === 'restart' ? 'restarting it here (TurnOff + Start)' : 'moving it to the peer (planned switchover)'}`);
  }

  /** The peer's counts for a module it is about to move here (HealthCarry). */
  accept(body: z.output<typeof HealthCarry.body>): z.input<typeof HealthCarry.reply> {
    const here = this.rt.snapshot.modules[body.module];
    // Only from the owner of the epoch this host knows: anything else is stale or not ours.
    if (here === undefined || here.epoch !== body.epoch || here.owner !== this.d.config.peer.Name) return { accepted: false };
    this.carried.set(body.module, { afterEpoch: body.epoch, relocations: body.relocations, reason: body.reason });
    this.save(body.module);
    return { accepted: true };
  }

  /** The status document with each module's Health field. */
  withHealth(doc: StatusDocument): StatusDocument {
    const modules = this.d.config.modules;
    return {
      ...doc,
      Modules: doc.Modules.map((s) => {
        const m = modules.find((x) => x.name === s.Name);
        const h = this.modules.get(s.Name);
        if (m === undefined || h === undefined) return s;
        return { ...s, Health: healthJson({ policy: healthPolicyMs(m), counters: h.counters, heartbeat: h.heartbeat, runsHere: h.runsHere, acting: h.acting, holding: h.holding, lastActionAt: h.lastActionAt, failure: h.failure, monoNow: this.now() }) };
      }),
    };
  }

  private record(module: string): HealthRecord {
    const h = this.modules.get(module)!;
    const c = h.counters;
    const carried = this.carried.get(module);
    return {
      Version: 1, Module: module, Epoch: h.epoch, Restarts: c.restarts, Relocations: c.relocations, GivenUp: c.givenUp,
      LastAction: c.lastAction?.action ?? null, LastReason: c.lastAction?.reason ?? null, LastActionAt: h.lastActionAt?.toISOString() ?? null,
      Carried: carried === undefined ? null : { AfterEpoch: carried.afterEpoch, Relocations: carried.relocations, Reason: carried.reason },
    };
  }

  // Writes the module's counts when they changed (one write at a time, in order).
  private save(module: string): void {
    if (this.d.persist === undefined) return;
    const r = this.record(module);
    const key = JSON.stringify(r);
    if (this.saved.get(module) === key) return;
    this.saved.set(module, key);
    const persist = this.d.persist;
    this.writes = this.writes.then(() => persist(r)).catch((err: unknown) => this.d.log.warn({ module, err }, 'cannot keep the VM health counts on disk'));
  }

  private module(name: string): ResolvedModule {
    return this.d.config.modules.find((x) => x.name === name)!;
  }

  private get rt(): ClusterRuntime {
    return this.d.rt;
  }

  // The VM runs here under an epoch the counters do not know: it came here (a takeover, a
  // switchover, a move for health). Restarts start again (a new host's own tries); relocations
  // are the module's: the peer's carried count if it moved it here for health, else this host's last.
  private newPlacement(module: string, h: ModuleHealth, epoch: number): void {
    const carried = this.carried.get(module);
    this.carried.delete(module);
    const fromPeer = carried !== undefined && carried.afterEpoch < epoch ? carried : undefined;
    const lastAction = fromPeer !== undefined ? { action: 'relocate' as const, at: this.now(), reason: fromPeer.reason } : h.counters.lastAction;
    h.counters = placedCounters(fromPeer?.relocations ?? h.counters.relocations, lastAction, fromPeer !== undefined ? this.now() + healthPolicyMs(this.module(module)).bootGraceMs : null);
    h.epoch = epoch;
    if (fromPeer !== undefined) h.lastActionAt = new Date();
  }

  private async restart(m: ResolvedModule, reason: string): Promise<void> {
    const id = await this.d.vmIdOf(m);
    const vm = await this.d.control.getVm(id);
    if (vm !== null && vm.state !== 'Off') await this.d.control.stopVm(id, 'TurnOff', { timeoutMs: 10_000 });
    // Start only what this host may still run: a lease lost or a fence asked meanwhile wins (C1).
    const snap = this.rt.snapshot.modules[m.name];
    const may = this.rt.holdsQuorum() && snap?.owner === this.d.config.self.Name && (snap.state === 'PRIM' || snap.state === 'ALONE') && snap.vm === 'running' && !this.d.effectsBusy(m.name);
    if (!may) {
      this.d.log.error({ event: 'health-restart-held', module: m.name, state: snap?.state }, `${m.name}: turned off for health (${reason}), not started again: this host may not run it now (state ${snap?.state ?? 'none'})`);
      return;
    }
    await this.d.beforeStart(m.name);
    await this.d.control.startVm(id, { timeoutMs: m.policies.startTimeoutSeconds * 1000, waitHeartbeat: false });
    this.d.log.info({ event: 'health-restarted', module: m.name, vmId: id }, `${m.name}: VM restarted on ${this.d.config.self.Name} for health`);
  }

  private async relocate(m: ResolvedModule, epoch: number, relocations: number, reason: string): Promise<void> {
    await this.d.carry({ module: m.name, epoch, relocations, reason }).catch((err: unknown) => {
      // Without the count the peer may try again from zero: still bounded (this host keeps its own count).
      this.d.log.warn({ module: m.name, err }, 'could not tell the peer the health counts; moving the VM anyway');
    });
    await this.d.relocate(m.name);
  }
}
