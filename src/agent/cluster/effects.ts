import type { LoadedConfig, ResolvedModule } from '../../config';
import type { Effect } from '../../cluster';
import type { HookReport, HookRunner } from '../../hooks';
import { writeModuleRecord } from '../../cluster/record-store';
import { HypervisorError, VmmirrorError, hasCode } from '../../errors';
import type { Hypervisor, VmId } from '../../hypervisor/types';
import type { Logger } from '../../log';
import type { WitnessClient } from '../../witness';
import { pinDynamicMacs } from '../vm-config-register';
import type { RuntimeEvent } from './runtime';

// The effect runner: carries out what the cluster layer asked for and reports each outcome back
// as an event. Effects of one module run in order (a persist completes before the start that
// follows it: C2); modules run side by side. Resync and failback wait on the peer for as long as
// a cycle takes, so they run beside the queue: a fence never waits behind them.

export interface EffectDeps {
  config: LoadedConfig;
  /** The hypervisor lane for start, stop and fence (never behind a freeze or an RCT query). */
  control: Hypervisor;
  witness: WitnessClient | null;
  recordsDir: string;
  log: Logger;
  dispatch(e: RuntimeEvent): void;
  vmIdOf(module: ResolvedModule): Promise<VmId>;
  /** Finishes any committed journal and closes the replica (ReplicaSide.release). */
  releaseReplica(module: string): Promise<{ generation: number }>;
  /** Lists the VM in the guard's lease before it starts, so the guard can fence it too. */
  beforeStart(module: string): Promise<void>;
  resync(module: string, epoch: number): Promise<{ generation: number }>;
  failback(module: string, epoch: number): Promise<{ epoch: number; generation: number }>;
  /**
   * Registers the module's VM here from the configuration the peer exported (docs/cluster.md
   * "Registering the replica"); absent: nothing is registered and a takeover of an unregistered
   * VM fails VM_NOT_REGISTERED.
   */
  registerReplica?(module: ResolvedModule): Promise<VmId>;
  /** After this host started the module's VM (its configuration may have changed: a first start assigns the MAC). */
  afterStart?(module: string): void;
  /** The operator's hooks (docs/hooks.md); absent: none run. A fence never runs one. */
  hooks?: HookRunner;
  /** The module's epoch now (the hooks are told it). */
  epochOf?(module: string): number;
}

/** A hook of a start or stop this runner carried out that failed (status: LastHook). */
export interface HookFailure {
  report: HookReport;
  reason: string;
  at: Date;
}

export class EffectRunner {
  private readonly queues = new Map<string, Promise<void>>();
  private readonly busy = new Map<string, number>();
  /** Per module, the last hook that failed around a start or stop (cleared by a clean run of the same phase). */
  readonly hookFailures = new Map<string, HookFailure>();

  constructor(private readonly d: EffectDeps) {}

  /** True while effects of `module` are queued or running (the VM watcher then stays quiet). */
  isBusy(module: string): boolean {
    return (this.busy.get(module) ?? 0) > 0;
  }

  /**
   * The effects of one step. Per module they run in order; if a persist fails, the rest of that
   * module's batch is skipped except fences (always safe), so nothing acts on an unrecorded decision.
   */
  enqueue(effects: Effect[]): void {
    const byModule = new Map<string, Effect[]>();
    for (const e of effects) {
      if (e.type === 'resync' || e.type === 'failback') {
        this.track(e.module, this.run(e).catch(() => undefined));
        continue;
      }
      byModule.set(e.module, [...(byModule.get(e.module) ?? []), e]);
    }
    for (const [module, batch] of byModule) {
      const prev = this.queues.get(module) ?? Promise.resolve();
      const next = prev.then(async () => {
        let unrecorded: string | null = null;
        for (const e of batch) {
          if (unrecorded !== null && e.type !== 'fence') {
            // Skipped, and said so: the machine takes the effect as failed and asks again later.
            if (e.type !== 'persist') this.d.dispatch({ type: 'effect-failed', module: e.module, effect: e.type, code: unrecorded });
            continue;
          }
          await this.run(e).catch((err: unknown) => (unrecorded = err instanceof VmmirrorError ? err.code : 'IO_ERROR'));
        }
      });
      this.queues.set(module, next);
      this.track(module, next);
    }
  }

  /** Waits until every effect queued so far for `module` has finished. */
  async drain(module: string): Promise<void> {
    await this.queues.get(module);
  }

  async drainAll(): Promise<void> {
    await Promise.allSettled([...this.queues.values()]);
  }

  private track(module: string, p: Promise<void>): void {
    this.busy.set(module, (this.busy.get(module) ?? 0) + 1);
    void p.finally(() => this.busy.set(module, (this.busy.get(module) ?? 1) - 1));
  }

  private module(name: string): ResolvedModule {
    const m = this.d.config.modules.find((x) => x.name === name);
    if (m === undefined) throw new VmmirrorError('MODULE_NOT_FOUND', `no module named ${name}`);
    return m;
  }

  private async run(e: Effect): Promise<void> {
    const log = this.d.log.child({ module: e.module, effect: e.type });
    try {
      const extra = await this.carryOut(e);
      if (e.type !== 'persist' && e.type !== 'claim-epoch') this.d.dispatch({ type: 'effect-done', module: e.module, effect: e.type, ...extra });
    } catch (err) {
      const code = err instanceof VmmirrorError ? err.code : 'INTERNAL';
      log.warn({ event: 'effect-failed', code, err }, `${e.type} of ${e.module} failed`);
      if (e.type === 'persist') throw err; // nothing after an unrecorded decision may run (the queue stops here)
      this.d.dispatch({ type: 'effect-failed', module: e.module, effect: e.type, code });
    }
  }

  private async carryOut(e: Effect): Promise<{ generation?: number; epoch?: number }> {
    const m = this.module(e.module);
    switch (e.type) {
      case 'persist':
        await writeModuleRecord(this.d.recordsDir, { Version: 1, Module: e.module, State: e.state, WaitReason: e.waitReason, Epoch: e.epoch, Owner: e.owner, Generation: e.generation });
        return {};
      case 'fence':
        await this.stop(m, e.mode, 10_000);
        this.d.log.warn({ event: 'fenced', module: m.name, mode: e.mode }, `${m.name}: VM fenced (${e.mode})`);
        return {};
      case 'stop-vm': {
        // Only an operator's stop of the module asks for stop-vm: PreStop is reported, the stop goes on.
        const facts = { epoch: this.d.epochOf?.(m.name) ?? 0, vmId: await this.d.vmIdOf(m).catch(() => null) };
        this.note(m.name, 'manual', await this.d.hooks?.reported('PreStop', m, 'manual', facts));
        await this.stop(m, m.policies.stopMode, m.policies.stopTimeoutSeconds * 1000);
        this.note(m.name, 'manual', await this.d.hooks?.post('PostStop', m, 'manual', facts));
        return {};
      }
      case 'promote-replica': {
        const r = await this.d.releaseReplica(m.name);
        // The replica VM waits here powered off, or is registered now from the peer's export,
        // over this host's own copies (the journal is finished and the replica closed above).
        // An id known from earlier is looked up again: that VM may have been removed since.
        const registered = await this.d.vmIdOf(m).then(
          async (id) => (await this.d.control.getVm(id)) !== null,
          (err: unknown) => (hasCode(err, 'VM_NOT_FOUND') ? false : Promise.reject(err)),
        );
        if (registered) return { generation: r.generation };
        if (this.d.registerReplica !== undefined) await this.d.registerReplica(m);
        else throw new HypervisorError('VM_NOT_REGISTERED', `module ${m.name}: no replica VM is registered on ${this.d.config.self.Name}; register it (docs/cluster.md "Registering the replica") so a takeover can start it`);
        return { generation: r.generation };
      }
      case 'start-vm': {
        const id = await this.d.vmIdOf(m);
        await this.d.beforeStart(m.name);
        const vm = await this.d.control.getVm(id);
        // A start that finds no VM must fail: reported done, the cluster would count a VM that never ran.
        if (vm === null) throw new HypervisorError('VM_NOT_FOUND', `module ${m.name}: VM ${id} is not registered on ${this.d.config.self.Name} (removed since it was found?); nothing started`, { details: { module: m.name, vmId: id } });
        const off = vm.state !== 'Running' && vm.state !== 'Starting';
        // The guest keeps its address only with a static MAC. Hyper-V changes one only while the VM
        // is Off: pin a MAC it already has before the start; a VM never started reports zeros
        // until its first start, so try again after it (the peer pins it from the export).
        const facts = { epoch: this.d.epochOf?.(m.name) ?? 0, vmId: id };
        // A start this machine asks for is a takeover of the peer's VM, or this host starting its
        // own (first start, cold start, a start the operator allowed again): 'failover'.
        const reason = m.defaultPrimary === this.d.config.self.Name ? 'failover' : 'takeover';
        // PreStart gates the start (a failure throws: effect-failed HOOK_FAILED, nothing started).
        if (off) await this.gate('PreStart', m, reason, facts);
        if (off) await pinDynamicMacs(this.d.control, id, this.d.log, m.name);
        if (off) await this.d.control.startVm(id, { timeoutMs: m.policies.startTimeoutSeconds * 1000, waitHeartbeat: false });
        await pinDynamicMacs(this.d.control, id, this.d.log, m.name);
        this.d.afterStart?.(m.name);
        this.d.log.info({ event: 'vm-started', module: m.name, vmId: id }, `${m.name}: VM started on ${this.d.config.self.Name}`);
        if (off) this.note(m.name, reason, await this.d.hooks?.post('PostStart', m, reason, facts));
        return {};
      }
      case 'claim-epoch':
        if (this.d.witness === null) throw new VmmirrorError('INTERNAL', 'a claim without a witness');
        this.d.witness.claim(e.module, e.epoch, e.kind);
        return {};
      case 'resync': {
        const r = await this.d.resync(e.module, e.epoch);
        return { generation: r.generation };
      }
      case 'failback': {
        const r = await this.d.failback(e.module, e.epoch);
        return { epoch: r.epoch, generation: r.generation };
      }
    }
  }

  private async gate(kind: 'PreStart', m: ResolvedModule, reason: 'failover' | 'takeover', facts: { epoch: number; vmId: string }): Promise<void> {
    if (this.d.hooks === undefined) return;
    try {
      const passed = await this.d.hooks.pre(kind, m, reason, facts);
      if (passed !== null && this.hookFailures.get(m.name)?.report.Hook === kind) this.hookFailures.delete(m.name);
    } catch (err) {
      const report = (err instanceof VmmirrorError ? (err.details as { Report?: HookReport } | undefined)?.Report : undefined) ?? reportFromError(kind, err);
      this.note(m.name, reason, report);
      throw err;
    }
  }

  /** Keeps a failed hook's report for status; a hook of the same kind that passed clears it. */
  private note(module: string, reason: string, report: HookReport | null | undefined): void {
    if (report === null || report === undefined) return;
    const last = this.hookFailures.get(module);
    if (!report.Ok) this.hookFailures.set(module, { report, reason, at: new Date() });
    else if (last?.report.Hook === report.Hook) this.hookFailures.delete(module);
  }

  private async stop(m: ResolvedModule, mode: 'Shutdown' | 'TurnOff' | 'Save', timeoutMs: number): Promise<void> {
    let id: VmId;
    try {
      id = await this.d.vmIdOf(m);
    } catch (err) {
      if (hasCode(err, 'VM_NOT_FOUND')) return; // nothing registered here: nothing runs
      throw err;
    }
    const vm = await this.d.control.getVm(id);
    if (vm === null || vm.state === 'Off' || vm.state === 'Saved') return;
    try {
      await this.d.control.stopVm(id, mode, { timeoutMs });
    } catch (err) {
      const now = await this.d.control.getVm(id);
      if (now === null || now.state === 'Off' || now.state === 'Saved') return; // it stopped meanwhile (the guard, or a race)
      if (mode !== 'TurnOff') {
        // A guest that does not shut down in time is turned off: a stop must end.
        this.d.log.warn({ module: m.name, mode, err }, 'stop did not finish; turning the VM off');
        await this.d.control.stopVm(id, 'TurnOff', { timeoutMs: 10_000 });
        return;
      }
      throw err;
    }
  }
}

function reportFromError(kind: HookReport['Hook'], err: unknown): HookReport {
  return { Hook: kind, Ok: false, ExitCode: null, DurationMs: 0, TimedOut: false, Code: err instanceof VmmirrorError ? err.code : 'INTERNAL', Message: err instanceof Error ? err.message : String(err), StdoutTail: '', StderrTail: '' };
}
