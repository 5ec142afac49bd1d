import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import type { LoadedConfig, ResolvedModule } from '../../config';
import { UsageError, VmmirrorError, hasCode } from '../../errors';
import type { Hypervisor, VmId } from '../../hypervisor/types';
import type { Logger } from '../../log';
import type { PeerConnection } from '../../peer';
import { SwitchoverAsk, type SwitchoverCheckWire, type SwitchoverFiguresWire } from '../messages';
import type { ClusterRuntime } from './runtime';
import { hookBudgetMs, type Switchover, type SwitchoverFigures } from './switchover';

// The operator's planned switchover (`vmmirror failover <module|vm> [--to]`, `vmmirror failback
// <module>`). Exactly one side drives it: the host that will run the VM. It checks, then hands the
// cluster layer an operator event; the machine emits the same `failback` effect an automatic
// failback uses (the state machine stays the one authority), and this waits for its outcome. Run
// on the owner, the command asks the peer to pull (SwitchoverAsk).

export type SwitchoverCheck = z.infer<typeof SwitchoverCheckWire>;
export type SwitchoverAction = 'failover' | 'failback';

export interface SwitchoverOutcome {
  module: string;
  vmName: string;
  action: SwitchoverAction;
  whatIf: boolean;
  from: string;
  to: string;
  /** The epoch the module was at when the command started. */
  epoch: number;
  checks: SwitchoverCheck[];
  figures: z.infer<typeof SwitchoverFiguresWire> | null;
}

/** A refusal: nothing moved. Details.Checks (PascalCase, the CLI's error document) names each check. */
class SwitchoverRefused extends VmmirrorError {
  constructor(message: string, readonly checks: SwitchoverCheck[], module: string) {
    super('SWITCHOVER_REFUSED', message, { details: { Module: module, Checks: checks.map((c) => ({ Name: c.name, Passed: c.passed, Detail: c.detail })) } });
  }
}

export interface OperatorSwitchoverDeps {
  config: LoadedConfig;
  rt: ClusterRuntime;
  switchover: Switchover;
  control: Hypervisor;
  vmIdOf(m: ResolvedModule): Promise<VmId>;
  /** The peer's exported configuration stored here (docs/cluster.md "Registering the replica"), for a replica VM not registered yet. */
  storedConfig?(module: string): Promise<{ configDir: string } | null>;
  connection(): Promise<PeerConnection>;
  log: Logger;
}

/** A check's detail fits the wire's bound (SwitchoverCheckWire), however long the hypervisor's messages. */
function bounded(detail: string): string {
  return detail.length <= 2000 ? detail : `${detail.slice(0, 1990)} [...]`;
}

export function figuresWire(f: SwitchoverFigures): z.infer<typeof SwitchoverFiguresWire> {
  return { epoch: f.epoch, fromGeneration: f.fromGeneration, toGeneration: f.generation, finalBytes: f.finalBytes, stopMs: f.stopMs, syncMs: f.syncMs, startMs: f.startMs, downtimeMs: f.downtimeMs, finishedAt: f.at.toISOString() };
}

export class OperatorSwitchover {
  constructor(private readonly d: OperatorSwitchoverDeps) {}

  /** A module by its name, or by its VM's name (data, matched exactly; never a pattern). */
  resolve(nameOrVm: string): ResolvedModule {
    const mods = this.d.config.modules;
    const byName = mods.find((m) => m.name === nameOrVm);
    if (byName !== undefined) return byName;
    const byVm = mods.filter((m) => m.vmName === nameOrVm);
    if (byVm.length === 1) return byVm[0]!;
    if (byVm.length > 1) throw new UsageError(`${JSON.stringify(nameOrVm)} is the VM of several modules (${byVm.map((m) => m.name).join(', ')}): name the module`);
    throw new VmmirrorError('MODULE_NOT_FOUND', `no module or VM named ${JSON.stringify(nameOrVm)} (modules: ${mods.map((m) => m.name).join(', ') || 'none'})`);
  }

  /** The control API's entry: works out from and to, then runs the switchover here or asks the peer to. */
  async run(nameOrVm: string, o: { action: SwitchoverAction; to?: string; whatIf: boolean }): Promise<SwitchoverOutcome> {
    const m = this.resolve(nameOrVm);
    const { self, peer } = { self: this.d.config.self.Name, peer: this.d.config.peer.Name };
    if (o.to !== undefined && o.to !== self && o.to !== peer) throw new UsageError(`--to ${JSON.stringify(o.to)} is not a host of this cluster (${self}, ${peer})`);
    const snap = this.d.rt.snapshot.modules[m.name]!;
    const owner = snap.owner;
    if (owner === null) throw this.refused(m, 'nobody runs it yet (no epoch owner)', []);
    const to = o.action === 'failback' ? m.defaultPrimary : owner === self ? peer : self;
    const from = to === self ? peer : self;
    const base = { module: m.name, vmName: m.vmName, action: o.action, whatIf: o.whatIf, from, to, epoch: snap.epoch };
    if (o.action === 'failback' && owner === m.defaultPrimary) throw this.refused(m, `it already runs on its default primary ${owner}`, []);
    if (o.to !== undefined && o.to !== to) throw this.refused(m, `it runs on ${owner}: it can only move to ${to}, not ${o.to}`, []);
    if (to === self) return { ...base, ...(await this.pullHere(m, o.whatIf)) };
    // The peer will run it: it drives. Without it nothing can move; say which check failed.
    if (!this.d.rt.peerAlive()) {
      const checks: SwitchoverCheck[] = [{ name: 'peer-heard', passed: false, detail: `${peer} has not been heard within ${this.d.rt.snapshot.settings.peerTimeoutMs} ms` }];
      if (o.whatIf) return { ...base, checks, figures: null };
      throw this.refused(m, `${peer} is not heard`, checks);
    }
    const conn = await this.d.connection();
    const budget = m.policies.stopTimeoutSeconds * 1000 + this.d.config.agent.CycleTimeoutSeconds * 1000 + m.policies.startTimeoutSeconds * 1000 + 120_000 + hookBudgetMs(this.d.switchover.deps, m, 'PreStart') + hookBudgetMs(this.d.switchover.deps, m, 'PreStop');
    const r = await conn.request(SwitchoverAsk, { module: m.name, epoch: snap.epoch, whatIf: o.whatIf }, { timeoutMs: budget });
    const out = { ...base, checks: r.checks, figures: r.figures };
    if (r.figures !== null) {
      // The old primary's status shows the move too.
      const f = r.figures;
      this.d.switchover.failbacks.set(m.name, { module: m.name, from, to, epoch: f.epoch, fromGeneration: f.fromGeneration, generation: f.toGeneration, stopMs: f.stopMs, syncMs: f.syncMs, startMs: f.startMs, downtimeMs: f.downtimeMs, finalBytes: f.finalBytes, at: new Date(f.finishedAt) });
    }
    if (!o.whatIf && r.figures === null) throw this.refused(m, `${peer} refused: ${r.checks.filter((c) => !c.passed).map((c) => `${c.name}: ${c.detail}`).join('; ')}`, r.checks);
    return out;
  }

  /** The peer (the owner) asks this host to pull the module: the checks and the move are this host's. */
  async answerAsk(body: z.output<typeof SwitchoverAsk.body>): Promise<z.input<typeof SwitchoverAsk.reply>> {
    const m = this.resolve(body.module);
    const here = this.d.rt.snapshot.modules[m.name]!;
    if (here.epoch !== body.epoch) {
      return { checks: [{ name: 'same-epoch', passed: false, detail: `${this.d.config.peer.Name} asked at epoch ${body.epoch}; ${this.d.config.self.Name} knows epoch ${here.epoch}` }], figures: null };
    }
    try {
      return await this.pullHere(m, body.whatIf);
    } catch (err) {
      if (err instanceof SwitchoverRefused) return { checks: err.checks.some((c) => !c.passed) ? err.checks : [...err.checks, { name: 'accepted', passed: false, detail: err.message }], figures: null };
      throw err;
    }
  }

  /** This host would run the VM: check, then ask the cluster layer, then wait for the move. */
  private async pullHere(m: ResolvedModule, whatIf: boolean): Promise<{ checks: SwitchoverCheck[]; figures: SwitchoverOutcome['figures'] }> {
    const checks = await this.checks(m);
    if (whatIf) return { checks, figures: null };
    const failed = checks.filter((c) => !c.passed);
    if (failed.length > 0) throw this.refused(m, failed.map((c) => `${c.name}: ${c.detail}`).join('; '), checks);
    // The checks awaited the hypervisor: another switchover of this module (a second command here,
    // or one the owner asked over the wire) may have been taken meanwhile. Judged again in the same
    // synchronous run as the dispatch: else "failbackAsked" below would be that move's, and this
    // command would wait, forever, for an outcome nobody reports to it (and block the next one).
    const now = this.d.rt.snapshot.modules[m.name]!;
    if (now.failbackAsked || this.d.rt.handingOver.has(m.name) || now.state !== 'SECOND' || now.owner !== this.d.config.peer.Name) {
      const why = 'another switchover of it was taken while this one was being checked (see vmmirror status)';
      throw this.refused(m, why, [...checks, { name: 'accepted', passed: false, detail: why }]);
    }
    const wait = this.d.switchover.awaitOutcome(m.name);
    this.d.log.info({ event: 'switchover-asked', module: m.name, to: this.d.config.self.Name }, `${m.name}: planned switchover to ${this.d.config.self.Name} asked by an operator`);
    this.d.rt.dispatch({ type: 'operator', module: m.name, command: 'switchover' });
    // dispatch is synchronous: the machine took the request in this step (the effect runs) or dropped it.
    if (this.d.rt.snapshot.modules[m.name]?.failbackAsked !== true) {
      wait.cancel();
      const why = 'the cluster layer did not take it (the module changed meanwhile: see vmmirror status)';
      throw this.refused(m, why, [...checks, { name: 'accepted', passed: false, detail: why }]);
    }
    const f = await wait.outcome;
    return { checks, figures: figuresWire(f) };
  }

  /** The conditions of a planned switchover to this host, each judged here now. */
  private async checks(m: ResolvedModule): Promise<SwitchoverCheck[]> {
    const { rt } = this.d;
    const peer = this.d.config.peer.Name;
    const here = rt.snapshot.modules[m.name]!;
    const there = rt.peerAlive() ? rt.snapshot.peerModules[m.name] : undefined;
    const checks: SwitchoverCheck[] = [];
    const add = (name: string, passed: boolean, detail: string): void => void checks.push({ name, passed, detail: bounded(detail) });
    add('peer-heard', rt.peerAlive(), rt.peerAlive() ? `${peer} answers heartbeats` : `${peer} has not been heard within ${rt.snapshot.settings.peerTimeoutMs} ms`);
    add('quorum', rt.holdsQuorum(), rt.holdsQuorum() ? 'this host holds a lease from a second vote' : 'this host holds no lease: it may not start VMs');
    // Listed only when it fails: nothing moves onto a host in maintenance (docs/cluster.md "Maintenance").
    if (rt.snapshot.maintenance === true) add('maintenance', false, `${this.d.config.self.Name} is in maintenance: nothing moves onto it until vmmirror resume ${this.d.config.self.Name}`);
    add('runs-on-peer', there?.owner === peer && (there.state === 'PRIM' || there.state === 'ALONE') && there.vm === 'running', there === undefined ? `nothing heard from ${peer}` : `${peer}: ${there.state}, VM ${there.vm}, epoch ${there.epoch}`);
    const replica = here.state === 'SECOND' && here.owner === peer && here.vm === 'off' && !here.failbackAsked && !rt.handingOver.has(m.name);
    add('replica-here', replica, `${this.d.config.self.Name}: ${here.state}${here.waitReason !== null ? ` (${here.waitReason})` : ''}, VM ${here.vm}, epoch ${here.epoch}${here.failbackAsked ? ', a switchover is already under way' : ''}`);
    // PRIM (not ALONE) at our epoch: the owner counts this copy in sync, so a final cycle levels it.
    const inSync = there?.state === 'PRIM' && there.epoch === here.epoch && replica;
    add('in-sync', inSync, there === undefined ? 'unknown' : `epoch ${here.epoch} here, ${there.epoch} on ${peer}; generation ${here.generation} here, ${there.generation} there (the final cycle sends the rest)`);
    const ready = await this.readiness(m);
    add(ready.name, ready.passed, ready.detail);
    return checks;
  }

  /** The readiness judgement of each module in progress: one at a time, they share the module's export folder. */
  private readonly judging = new Map<string, Promise<unknown>>();

  // Two commands for one module at once (two --what-if, or one here and one the owner relays)
  // would otherwise empty each other's export folder while the hypervisor reads it.
  private readiness(m: ResolvedModule): Promise<SwitchoverCheck> {
    const mine = (this.judging.get(m.name) ?? Promise.resolve()).then(() => this.judgeReadiness(m));
    const tail = mine.catch(() => undefined);
    this.judging.set(m.name, tail);
    void tail.then(() => (this.judging.get(m.name) === tail ? this.judging.delete(m.name) : undefined));
    return mine;
  }

  // The hypervisor's own verdict on the replica VM here (switches, configuration version, memory
  // headroom: Compare-VM on Hyper-V): its configuration is exported into a folder this host's
  // config names, judged, and the folder removed.
  private async judgeReadiness(m: ResolvedModule): Promise<SwitchoverCheck> {
    const dir = join(this.d.config.dataDir, 'switchover-readiness', m.name);
    try {
      const id = await this.d.vmIdOf(m).catch((err: unknown) => (hasCode(err, 'VM_NOT_FOUND') ? null : Promise.reject(err)));
      const vm = id === null ? null : await this.d.control.getVm(id);
      if (id === null || vm === null) return await this.storedReadiness(m);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      await this.d.control.exportConfig(id, dir, { timeoutMs: 60_000 });
      const r = await this.d.control.checkReadiness(dir, { memoryBytes: vm.memoryBytes, timeoutMs: 60_000 });
      return { name: 'readiness', passed: r.canStart, detail: r.canStart ? `the VM can start here (${r.freeMemoryBytes} bytes free, it needs ${vm.memoryBytes})` : r.issues.map((i) => `${i.kind}: ${i.message}`).join(' ') };
    } catch (err) {
      return { name: 'readiness', passed: false, detail: `the readiness check failed: ${(err as Error).message}` };
    } finally {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  // The replica VM is registered at its first start here, from the configuration the owner
  // exported: judge that export (its memory is not known here, so headroom is not judged).
  private async storedReadiness(m: ResolvedModule): Promise<SwitchoverCheck> {
    const stored = (await this.d.storedConfig?.(m.name)) ?? null;
    if (stored === null) return { name: 'readiness', passed: false, detail: `no replica VM of ${m.name} is registered on ${this.d.config.self.Name}, and no configuration exported by the peer is stored here` };
    const r = await this.d.control.checkReadiness(stored.configDir, { memoryBytes: 0, timeoutMs: 60_000 });
    const detail = r.canStart ? `the peer's exported configuration can be registered and started here (registered at the start; memory headroom not judged: ${r.freeMemoryBytes} bytes free)` : r.issues.map((i) => `${i.kind}: ${i.message}`).join(' ');
    return { name: 'readiness', passed: r.canStart, detail };
  }

  private refused(m: ResolvedModule, why: string, checks: SwitchoverCheck[]): SwitchoverRefused {
    return new SwitchoverRefused(`switchover of ${m.name} refused, nothing moved: ${why}`, checks, m.name);
  }
}
