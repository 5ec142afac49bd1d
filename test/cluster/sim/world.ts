import { initialSnapshot, step, type ClusterEvent, type ClusterSettings, type ClusterSnapshot, type Effect, type PeerModuleView } from '../../../src/cluster';
import type { ModuleRecord } from '../../../src/cluster/record';
import { quorumUntil, runnableUntil } from '../../../src/cluster/lease';
import { claim, grantLease, startWitness, type WitnessState } from '../../../src/cluster/witness-rules';

// A simulated two-host cluster and witness on one simulated clock, built from the pure cluster
// layer: hosts with their own clock offset and rate, links that can be cut, crashes of a host, of
// its agent alone (its VMs run on, watched by the guard) and of the witness. `phys` is the truth
// the invariants are checked against: which VMs are running on which host at this instant.

export type HostName = 'a' | 'b';
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type Link = 'ab' | 'aw' | 'bw';

interface HostSim {
  name: HostName;
  peer: HostName;
  off: number;
  rate: number;
  hostUp: boolean;
  agentUp: boolean;
  /** Bumped at every crash: messages and completions of an older incarnation are dropped. */
  incarnation: number;
  snap: ClusterSnapshot | null;
  records: Record<string, ModuleRecord>;
  /** The guard's copy of the lease, as of the agent's last step (host-local time). */
  guardLease: ClusterSnapshot['lease'];
  maxEpoch: Record<string, number>;
}

export interface Violation {
  t: number;
  what: string;
}

export class World {
  t = 0;
  private seq = 0;
  private queue: Array<{ at: number; seq: number; fn: () => void }> = [];
  readonly hosts: Record<HostName, HostSim>;
  witness: { up: boolean; off: number; rate: number; state: WitnessState };
  readonly links: Record<Link, boolean> = { ab: true, aw: true, bw: true };
  readonly phys: Record<HostName, Record<string, boolean>> = { a: {}, b: {} };
  /** Which run of the VM is on (bumped at every start): a stop decided for one run cannot hit the next. */
  private readonly runs: Record<HostName, Record<string, number>> = { a: {}, b: {} };
  readonly violations: Violation[] = [];
  /** Real time at which each module last ran nowhere, and its longest such gap. */
  readonly log: string[] = [];

  constructor(
    readonly rand: () => number,
    readonly settings: ClusterSettings,
    readonly modules: Array<{ name: string; defaultPrimary: HostName }>,
  ) {
    const mk = (name: HostName, peer: HostName): HostSim => ({
      name,
      peer,
      off: Math.floor(rand() * 1e6),
      rate: 1 + (rand() * 2 - 1) * (settings.driftPpm / 2) * 1e-6,
      hostUp: true,
      agentUp: false,
      incarnation: 0,
      snap: null,
      records: {},
      guardLease: { fromPeerUntil: null, fromWitnessUntil: null },
      maxEpoch: {},
    });
    this.hosts = { a: mk('a', 'b'), b: mk('b', 'a') };
    this.witness = { up: true, off: Math.floor(rand() * 1e6), rate: 1, state: startWitness(0, settings) };
    this.witness.state = startWitness(this.witnessClock(), settings);
  }

  local(h: HostSim): number {
    return Math.floor(h.off + this.t * h.rate);
  }
  witnessClock(): number {
    return Math.floor(this.witness.off + this.t * this.witness.rate);
  }
  linkUp(x: HostName, y: HostName | 'w'): boolean {
    const key = [x, y].sort().join('') as Link;
    return y === 'w' ? this.links[`${x}w` as Link] && this.witness.up : this.links[key];
  }
  between(lo: number, hi: number): number {
    return lo + Math.floor(this.rand() * (hi - lo + 1));
  }

  at(delay: number, fn: () => void): void {
    this.queue.push({ at: this.t + Math.max(0, delay), seq: this.seq++, fn });
  }

  runUntil(end: number): void {
    for (;;) {
      this.queue.sort((x, y) => x.at - y.at || x.seq - y.seq);
      const next = this.queue[0];
      if (next === undefined || next.at > end) break;
      this.queue.shift();
      this.t = next.at;
      next.fn();
      this.check();
    }
    this.t = end;
  }

  private check(): void {
    for (const m of this.modules) {
      if (this.phys.a[m.name] && this.phys.b[m.name]) this.violations.push({ t: this.t, what: `${m.name} runs on both hosts` });
    }
  }

  startAgent(h: HostSim): void {
    h.agentUp = true;
    h.incarnation += 1;
    const keep = h.guardLease;
    h.snap = initialSnapshot({
      self: h.name,
      peerName: h.peer,
      settings: this.settings,
      now: this.local(h),
      modules: this.modules.map((m) => ({ name: m.name, defaultPrimary: m.defaultPrimary, failback: 'manual', fenceMode: 'TurnOff' })),
      records: h.records,
      vms: Object.fromEntries(this.modules.map((m) => [m.name, this.phys[h.name][m.name] ? 'running' : 'off'])),
      lease: Object.values(this.phys[h.name]).some(Boolean) ? keep : undefined,
    });
    const inc = h.incarnation;
    const loop = (every: number, fn: () => void): void => {
      const go = (): void => {
        if (!h.agentUp || h.incarnation !== inc) return;
        fn();
        this.at(every, go);
      };
      this.at(this.between(0, every), go);
    };
    loop(100, () => this.deliver(h, { type: 'tick' }));
    loop(1000, () => this.sendHeartbeat(h));
    loop(1000, () => this.askWitness(h));
    loop(1000, () => this.replicate(h));
  }

  // A replication cycle: an owner in PRIM sends to its peer in SECOND at the same epoch; both learn
  // the new generation (a takeover needs a copy that holds one).
  private replicate(h: HostSim): void {
    const peer = this.hosts[h.peer];
    for (const m of Object.values(h.snap?.modules ?? {})) {
      const p = peer.snap?.modules[m.name];
      if (m.state !== 'PRIM' || m.owner !== h.name || m.vm !== 'running' || p === undefined || p.state !== 'SECOND' || p.epoch !== m.epoch) continue;
      if (!peer.agentUp || !this.linkUp(h.name, h.peer)) continue;
      const e = { type: 'cycle-done' as const, module: m.name, epoch: m.epoch, generation: Math.max(m.generation, p.generation) + 1 };
      this.at(this.between(10, 300), () => {
        if (!peer.agentUp || !this.linkUp(h.name, h.peer)) return;
        this.deliver(peer, e);
        this.deliver(h, e);
      });
    }
  }

  views(h: HostSim): Record<string, PeerModuleView> {
    const out: Record<string, PeerModuleView> = {};
    for (const m of Object.values(h.snap?.modules ?? {})) out[m.name] = { state: m.state, epoch: m.epoch, owner: m.owner, generation: m.generation, vm: m.vm };
    return out;
  }

  deliver(h: HostSim, e: DistributiveOmit<ClusterEvent, 'now'>): void {
    if (!h.agentUp || h.snap === null) return;
    const r = step(h.snap, { ...e, now: this.local(h) } as ClusterEvent);
    h.snap = r.next;
    h.guardLease = r.next.lease;
    for (const tr of r.transitions) this.log.push(`${this.t} ${h.name} ${tr.module} ${tr.from}->${tr.to} e${tr.epoch}${tr.reason ? ` (${tr.reason})` : ''}`);
    for (const eff of r.effects) this.execute(h, eff);
    this.armGuard(h);
  }

  private sendHeartbeat(h: HostSim): void {
    const peer = this.hosts[h.peer];
    if (!this.linkUp(h.name, h.peer)) return;
    const askedAt = this.local(h);
    const modules = this.views(h);
    const inc = h.incarnation;
    this.at(this.between(1, 30), () => {
      if (!peer.agentUp || !this.linkUp(h.name, h.peer)) return;
      this.deliver(peer, { type: 'peer-heartbeat', path: 'primary', modules });
      const reply = this.views(peer);
      this.at(this.between(1, 30), () => {
        if (h.incarnation !== inc || !this.linkUp(h.name, h.peer)) return;
        this.deliver(h, { type: 'peer-heartbeat', path: 'primary', modules: reply, answer: { askedAt, grantedMs: this.settings.leaseMs } });
      });
    });
  }

  private askWitness(h: HostSim): void {
    if (!this.linkUp(h.name, 'w')) return;
    const askedAt = this.local(h);
    const inc = h.incarnation;
    this.at(this.between(1, 30), () => {
      if (!this.linkUp(h.name, 'w')) return;
      this.witness.state = grantLease(this.witness.state, h.name, this.witnessClock(), this.settings);
      const claims = structuredClone(this.witness.state.claims);
      this.at(this.between(1, 30), () => {
        if (h.incarnation === inc && this.linkUp(h.name, 'w')) this.deliver(h, { type: 'witness-lease', askedAt, grantedMs: this.settings.leaseMs, claims });
      });
    });
  }

  /** The effect runner: in order; completions come back as events of the same incarnation. */
  private execute(h: HostSim, eff: Effect): void {
    const inc = h.incarnation;
    const back = (delay: number, e: DistributiveOmit<ClusterEvent, 'now'>): void =>
      this.at(delay, () => {
        if (h.incarnation === inc) this.deliver(h, e);
      });
    switch (eff.type) {
      case 'persist': {
        if (eff.epoch < (h.maxEpoch[eff.module] ?? 0)) this.violations.push({ t: this.t, what: `${h.name} persisted ${eff.module} epoch ${eff.epoch} below ${h.maxEpoch[eff.module]}` });
        h.maxEpoch[eff.module] = Math.max(h.maxEpoch[eff.module] ?? 0, eff.epoch);
        h.records[eff.module] = { Version: 1, Module: eff.module, State: eff.state, WaitReason: eff.waitReason, Epoch: eff.epoch, Owner: eff.owner, Generation: eff.generation };
        return;
      }
      case 'fence':
      case 'stop-vm': {
        // TurnOff takes under a second: the fence lead (1.5 s) must cover it.
        const run = this.runs[h.name][eff.module] ?? 0;
        this.at(this.between(50, 1000), () => {
          if (h.hostUp && this.runs[h.name][eff.module] === run) this.setPhys(h, eff.module, false, eff.type);
          if (h.incarnation === inc) this.deliver(h, { type: 'effect-done', module: eff.module, effect: eff.type });
        });
        return;
      }
      case 'promote-replica':
        return;
      case 'start-vm': {
        // Counted as running from the moment the start begins (the conservative reading).
        const run = (this.runs[h.name][eff.module] ?? 0) + 1;
        this.runs[h.name][eff.module] = run;
        this.setPhys(h, eff.module, true, 'start');
        this.at(this.between(100, 1500), () => {
          if (h.incarnation !== inc) return;
          // Turned off while starting (the guard): the start reports failure, as Start-VM would.
          const up = this.phys[h.name][eff.module] && this.runs[h.name][eff.module] === run;
          this.deliver(h, up ? { type: 'effect-done', module: eff.module, effect: 'start-vm' } : { type: 'effect-failed', module: eff.module, effect: 'start-vm', code: 'VM_WRONG_STATE' });
        });
        return;
      }
      case 'claim-epoch': {
        let answered = false;
        if (this.linkUp(h.name, 'w')) {
          this.at(this.between(1, 30), () => {
            if (!this.linkUp(h.name, 'w')) return;
            const r = claim(this.witness.state, eff.module, eff.epoch, h.name, this.witnessClock(), eff.kind);
            this.witness.state = r.next;
            this.log.push(`${this.t} witness ${eff.module} e${eff.epoch} ${eff.kind} by ${h.name}: ${r.answer.granted ? 'granted' : `refused (${r.answer.reason})`}`);
            this.at(this.between(1, 30), () => {
              if (h.incarnation !== inc || !this.linkUp(h.name, 'w') || answered) return;
              answered = true;
              const a = r.answer;
              this.deliver(h, { type: 'witness-claim', module: eff.module, epoch: eff.epoch, granted: a.granted, current: { epoch: a.epoch, owner: a.owner } });
            });
          });
        }
        this.at(2000, () => {
          if (answered || h.incarnation !== inc) return;
          answered = true;
          this.deliver(h, { type: 'effect-failed', module: eff.module, effect: 'claim-epoch', code: 'PEER_TIMEOUT' });
        });
        return;
      }
      case 'resync': {
        const peer = this.hosts[h.peer];
        const d = this.between(300, 3000);
        this.at(d, () => {
          if (h.incarnation !== inc) return;
          const ok = this.linkUp(h.name, h.peer) && peer.agentUp;
          const gen = peer.snap?.modules[eff.module]?.generation ?? 0;
          this.deliver(h, ok ? { type: 'effect-done', module: eff.module, effect: 'resync', generation: gen } : { type: 'effect-failed', module: eff.module, effect: 'resync', code: 'PEER_UNREACHABLE' });
        });
        return;
      }
      case 'failback':
        back(1, { type: 'effect-failed', module: eff.module, effect: 'failback', code: 'USAGE' });
        return;
    }
  }

  /** The guard: stops this host's VMs at the end of the lease it last saw, agent or no agent. */
  private armGuard(h: HostSim): void {
    const until = runnableUntil(quorumUntil(h.guardLease.fromPeerUntil, h.guardLease.fromWitnessUntil), this.settings);
    const realAt = until === null ? this.t : (until - h.off) / h.rate;
    this.at(Math.ceil(realAt - this.t) + 1, () => {
      if (!h.hostUp) return;
      const nowUntil = runnableUntil(quorumUntil(h.guardLease.fromPeerUntil, h.guardLease.fromWitnessUntil), this.settings);
      if (nowUntil !== null && this.local(h) < nowUntil) return; // renewed since
      for (const m of this.modules) {
        if (!this.phys[h.name][m.name]) continue;
        const run = this.runs[h.name][m.name] ?? 0;
        this.at(this.between(50, 1000), () => {
          if (this.runs[h.name][m.name] !== run) return;
          this.setPhys(h, m.name, false, 'guard');
          // The agent (if any) sees it at its next poll of the hypervisor.
          this.at(this.between(100, 1000), () => this.deliver(h, { type: 'vm-observed', module: m.name, activity: 'off', cause: 'guard' }));
        });
      }
    });
  }

  private setPhys(h: HostSim, module: string, running: boolean, why: string): void {
    if (this.phys[h.name][module] !== running) this.log.push(`${this.t} ${h.name} ${module} vm ${running ? 'runs' : 'off'} (${why})`);
    this.phys[h.name][module] = running;
  }

  crashHost(h: HostSim): void {
    h.hostUp = false;
    h.agentUp = false;
    h.incarnation += 1;
    h.snap = null;
    h.guardLease = { fromPeerUntil: null, fromWitnessUntil: null };
    for (const m of this.modules) this.setPhys(h, m.name, false, 'host crash');
  }

  crashAgent(h: HostSim): void {
    h.agentUp = false;
    h.incarnation += 1;
    h.snap = null;
    this.armGuard(h);
  }

  restartHost(h: HostSim): void {
    h.hostUp = true;
    this.startAgent(h);
  }

  crashWitness(): void {
    this.witness.up = false;
  }

  restartWitness(): void {
    this.witness.up = true;
    // Claims are durable (the witness writes them before it answers); leases are not.
    this.witness.state = { ...startWitness(this.witnessClock(), this.settings), claims: this.witness.state.claims };
  }
}
