import type { LoadedConfig } from '../../config';
import { UsageError, VmmirrorError } from '../../errors';
import type { Logger } from '../../log';
import type { PeerConnection } from '../../peer';
import { readMaintenanceRecord, writeMaintenanceRecord, type MaintenanceHost, type MaintenanceRecord } from '../../cluster/maintenance-record';
import type { DrainDocument, DrainModule, MaintenanceStatus } from '../control/maintenance-documents';
import { rankOf } from '../../cluster/priority';
import { MaintenanceAsk } from './maintenance-wire';
import type { OperatorSwitchover } from './operator-switchover';
import type { ClusterRuntime } from './runtime';

// A host's maintenance (docs/cluster.md "Maintenance"): `vmmirror drain <host>` sets the host's
// flag durably, then switches every module running there over to the peer, one at a time, by the
// operator's planned switchover (zero loss), and reports each; `vmmirror resume <host>` clears it.
// While the flag is set the cluster layer moves nothing onto the host (module-decide.ts). The flag
// travels in heartbeats, and each host records both hosts' flags. A drain cut short by an agent
// restart is taken up again by the restarted agent once the peer is heard.

export interface MaintenanceDeps {
  config: LoadedConfig;
  rt: ClusterRuntime;
  operator: OperatorSwitchover;
  recordsDir: string;
  connection(): Promise<PeerConnection>;
  log: Logger;
  /** How long a restarted agent waits for the peer and its own VMs before it takes a drain up again. */
  resumeWaitMs?: number;
}

export class Maintenance {
  private record: MaintenanceRecord;
  private writing: Promise<void> = Promise.resolve();
  private running: Promise<DrainDocument> | null = null;
  lastDrain: DrainDocument | null = null;

  private constructor(private readonly d: MaintenanceDeps, record: MaintenanceRecord) {
    this.record = record;
  }

  /** Reads the durable record (a damaged one throws CLUSTER_STATE_INVALID: the agent does not start). */
  static async load(d: MaintenanceDeps): Promise<Maintenance> {
    return new Maintenance(d, await readMaintenanceRecord(d.recordsDir));
  }

  /** Read before the runtime exists: the initial snapshot starts with this host's flag. */
  static async selfFlag(recordsDir: string, self: string): Promise<boolean> {
    return (await readMaintenanceRecord(recordsDir)).Hosts.some((h) => h.Name === self);
  }

  private entry(host: string): MaintenanceHost | undefined {
    return this.record.Hosts.find((h) => h.Name === host);
  }

  inMaintenance(host: string): boolean {
    return this.entry(host) !== undefined;
  }

  private async save(host: string, next: MaintenanceHost | null): Promise<void> {
    const write = this.writing.then(async () => {
      const hosts = this.record.Hosts.filter((h) => h.Name !== host);
      const record: MaintenanceRecord = { Version: 1, Hosts: next === null ? hosts : [...hosts, next].sort((a, b) => a.Name.localeCompare(b.Name)) };
      await writeMaintenanceRecord(this.d.recordsDir, record);
      this.record = record;
    });
    this.writing = write.catch(() => undefined);
    await write;
  }

  /** The peer's flag from its heartbeat (absent: an older agent, nothing learnt). Recorded when it changed. */
  heardPeer(flag: boolean | undefined): void {
    const peer = this.d.config.peer.Name;
    if (flag === undefined || flag === this.inMaintenance(peer)) return;
    void this.save(peer, flag ? { Name: peer, Since: new Date().toISOString(), Draining: false } : null)
      .then(() => this.d.log.info({ event: flag ? 'peer-maintenance' : 'peer-resumed', host: peer }, `${peer} is ${flag ? 'in maintenance' : 'out of maintenance'}`))
      .catch((err: unknown) => this.d.log.warn({ err }, `cannot record ${peer}'s maintenance flag`));
  }

  status(): MaintenanceStatus {
    const hosts = [this.d.config.self.Name, this.d.config.peer.Name].map((name) => {
      const e = this.entry(name);
      return { Name: name, InMaintenance: e !== undefined, Since: e?.Since ?? null, Draining: e?.Draining ?? false };
    });
    return { Hosts: hosts, LastDrain: this.lastDrain };
  }

  /** `vmmirror drain <host>` / `resume <host>` from the control API: this host acts, or asks the peer to. */
  async command(host: string, action: 'drain' | 'resume', whatIf: boolean): Promise<DrainDocument> {
    const { self, peer } = { self: this.d.config.self.Name, peer: this.d.config.peer.Name };
    if (host !== self && host !== peer) throw new UsageError(`${JSON.stringify(host)} is not a host of this cluster (${self}, ${peer})`);
    if (host === self) return action === 'drain' ? this.drain(whatIf, false) : this.resume(whatIf);
    const conn = await this.d.connection();
    const budget = 3600_000 * Math.max(1, this.d.config.modules.length);
    return conn.request(MaintenanceAsk, { action, whatIf }, { timeoutMs: budget });
  }

  /** The peer asked this host to drain or resume itself. */
  answer(body: { action: 'drain' | 'resume'; whatIf: boolean }): Promise<DrainDocument> {
    return body.action === 'drain' ? this.drain(body.whatIf, false) : this.resume(body.whatIf);
  }

  /** Drains this host; a drain already under way is joined, not started twice. */
  drain(whatIf: boolean, resumed: boolean): Promise<DrainDocument> {
    if (whatIf) return this.runDrain(true, false);
    this.running ??= this.runDrain(false, resumed).finally(() => (this.running = null));
    return this.running;
  }

  private async runDrain(whatIf: boolean, resumed: boolean): Promise<DrainDocument> {
    const self = this.d.config.self.Name;
    const startedAt = new Date();
    if (!whatIf) {
      // Durable before anything moves: from here a restart keeps the flag and takes the drain up again.
      await this.save(self, { Name: self, Since: this.entry(self)?.Since ?? startedAt.toISOString(), Draining: true });
      this.d.rt.dispatch({ type: 'maintenance', on: true });
      this.d.log.warn({ event: 'drain-start', host: self, resumed }, `${self} is in maintenance: moving every VM it runs to ${this.d.config.peer.Name}`);
    }
    const modules: DrainModule[] = [];
    // High priority first (Policies.StartPriority), then by name: the important VMs are safe soonest.
    const order = [...this.d.config.modules].sort((a, b) => rankOf({ startPriority: a.policies.startPriority }) - rankOf({ startPriority: b.policies.startPriority }) || a.name.localeCompare(b.name));
    for (const m of order) {
      // The peer judges a move's checks on our last heartbeat: just after a restart or a move it may
      // still see the VM starting here. A refusal is asked again a few heartbeats later (3 tries).
      let r = await this.moveOne(m.name, m.vmName, whatIf);
      for (let attempt = 1; !whatIf && r.Outcome === 'refused' && attempt < 3; attempt++) {
        await new Promise((res) => setTimeout(res, Math.max(1000, this.d.config.agent.HeartbeatIntervalMs * 3)));
        r = await this.moveOne(m.name, m.vmName, whatIf);
      }
      modules.push(r);
    }
    if (!whatIf) await this.save(self, { Name: self, Since: this.entry(self)?.Since ?? startedAt.toISOString(), Draining: false });
    const finishedAt = new Date();
    const doc: DrainDocument = { Host: self, Action: 'drain', WhatIf: whatIf, InMaintenance: this.inMaintenance(self), Resumed: resumed, StartedAt: startedAt.toISOString(), FinishedAt: finishedAt.toISOString(), DurationMs: finishedAt.getTime() - startedAt.getTime(), Modules: modules };
    if (!whatIf) {
      this.lastDrain = doc;
      this.d.log.info({ event: 'drain-done', host: self, moved: modules.filter((x) => x.Outcome === 'moved').length, left: modules.filter((x) => x.Outcome === 'refused' || x.Outcome === 'failed').length, durationMs: doc.DurationMs }, `${self}: drain finished`);
    }
    return doc;
  }

  private async moveOne(module: string, vmName: string, whatIf: boolean): Promise<DrainModule> {
    const base = { Module: module, VmName: vmName, To: null, Epoch: null, DowntimeMs: null, FinalDeltaBytes: null, DurationMs: null, Code: null, Message: null };
    const snap = this.d.rt.snapshot.modules[module];
    const self = this.d.config.self.Name;
    if (snap === undefined || snap.owner !== self || (snap.state !== 'PRIM' && snap.state !== 'ALONE' && snap.state !== 'WAIT')) return { ...base, Outcome: 'not-here' };
    const t0 = performance.now();
    try {
      const out = await this.d.operator.run(module, { action: 'failover', whatIf });
      const f = out.figures;
      if (whatIf) {
        const failed = out.checks.filter((c) => !c.passed);
        return { ...base, To: out.to, Outcome: failed.length === 0 ? 'planned' : 'refused', Message: failed.length === 0 ? null : failed.map((c) => `${c.name}: ${c.detail}`).join('; ') };
      }
      return { ...base, Outcome: 'moved', To: out.to, Epoch: f?.epoch ?? null, DowntimeMs: f === null ? null : Math.round(f.downtimeMs), FinalDeltaBytes: f?.finalBytes ?? null, DurationMs: Math.round(performance.now() - t0) };
    } catch (err) {
      const code = err instanceof VmmirrorError ? err.code : 'INTERNAL';
      const message = err instanceof Error ? err.message : String(err);
      this.d.log.warn({ event: 'drain-module-failed', module, code }, `drain: ${module} stays on ${self}: ${message}`);
      return { ...base, Outcome: code === 'SWITCHOVER_REFUSED' ? 'refused' : 'failed', To: this.d.config.peer.Name, DurationMs: Math.round(performance.now() - t0), Code: code, Message: message.slice(0, 4000) };
    }
  }

  private async resume(whatIf: boolean): Promise<DrainDocument> {
    const self = this.d.config.self.Name;
    const startedAt = new Date();
    if (!whatIf && this.inMaintenance(self)) {
      await this.running?.catch(() => undefined); // a drain under way finishes first: its moves are not cut in half
      await this.save(self, null);
      this.d.rt.dispatch({ type: 'maintenance', on: false });
      this.d.log.warn({ event: 'maintenance-resumed', host: self }, `${self} is out of maintenance: VMs may start and fail back here again`);
    }
    const finishedAt = new Date();
    return { Host: self, Action: 'resume', WhatIf: whatIf, InMaintenance: this.inMaintenance(self), Resumed: false, StartedAt: startedAt.toISOString(), FinishedAt: finishedAt.toISOString(), DurationMs: finishedAt.getTime() - startedAt.getTime(), Modules: [] };
  }

  /**
   * After an agent start: a drain the record says had not finished is taken up again once the
   * peer is heard and this host's own VMs run (or the wait ends), then reported in status.
   */
  async resumeInterrupted(stopped: () => boolean): Promise<void> {
    const self = this.d.config.self.Name;
    if (this.entry(self)?.Draining !== true) return;
    const deadline = Date.now() + (this.d.resumeWaitMs ?? 300_000);
    // Settled: the peer heard, each module this host owns running here again, every other one past its cold-start wait.
    const settled = (): boolean =>
      this.d.rt.peerAlive() && Object.values(this.d.rt.snapshot.modules).every((m) => (m.owner === self ? (m.state === 'PRIM' && m.vm === 'running') || m.state === 'ALONE' : m.state !== 'WAIT'));
    while (!stopped() && !settled() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    if (stopped()) return;
    this.d.log.warn({ event: 'drain-resumed', host: self }, `${self}: the drain an agent restart cut short goes on`);
    await this.drain(false, true).catch((err: unknown) => this.d.log.error({ err }, 'the interrupted drain could not go on'));
  }
}
