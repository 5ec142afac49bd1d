import { InvariantError } from '../errors';
import { replicaBehindMs, type FreshnessEntry } from './cold-start';
import { heard } from './detector';
import { grantorExpiry, holderExpiry } from './lease';
import { decide, viewOf } from './module-decide';
import { decisionOrder, higherMoving } from './priority';
import { applyModuleEvent } from './module-events';
import type { ModuleRecord } from './record';
import { assertTransition } from './transitions';
import type { ClusterEvent, ClusterSettings, ClusterSnapshot, Effect, ModuleSnapshot, StepResult, VmActivity } from './types';

// The cluster layer's one entry point (DESIGN C5): step(snapshot, event) -> { next, effects }.
// No I/O and no clock: the effect runner carries out the effects, in order, and feeds their
// outcomes back as events.

// A grant is held for at most this host's own lease length. Holding less than granted is always
// safe (the holder stops sooner than the grantor's count), and it keeps every lease this host
// writes for its guard within the guard's bound (leaseMs + 1 s): a witness configured with a longer
// LeaseMs than the cluster's PeerLossTimeoutMs would otherwise make the guard judge each lease
// "foreign-clock" and fence the VMs at once.
function heldMs(grantedMs: number, s: ClusterSnapshot): number {
  return Math.min(grantedMs, s.settings.leaseMs);
}

export function step(s: ClusterSnapshot, e: ClusterEvent): StepResult {
  if (e.now < s.now) throw new InvariantError(`cluster: event time ${e.now} is before the snapshot's ${s.now} (the clock is monotonic)`);
  let next: ClusterSnapshot = { ...s, now: e.now };
  const effects: Effect[] = [];

  if (e.type === 'peer-heartbeat') {
    const answer = e.answer;
    next = {
      ...next,
      detector: heard(next.detector, e.path, e.now),
      peerModules: e.modules,
      // Answering this heartbeat grants the peer our vote; we honour it past the peer's own count.
      grantedToPeerUntil: Math.max(next.grantedToPeerUntil ?? 0, grantorExpiry(e.now, s.settings.leaseMs, s.settings)),
      lease: answer === undefined ? next.lease : { ...next.lease, fromPeerUntil: Math.max(next.lease.fromPeerUntil ?? 0, holderExpiry(answer.askedAt, heldMs(answer.grantedMs, s))) },
    };
  } else if (e.type === 'maintenance') {
    next = { ...next, maintenance: e.on };
  } else if (e.type === 'witness-lease') {
    const witnessModules = { ...next.witnessModules };
    for (const [name, c] of Object.entries(e.claims)) if ((witnessModules[name]?.epoch ?? -1) <= c.epoch) witnessModules[name] = c;
    next = { ...next, witnessModules, lease: { ...next.lease, fromWitnessUntil: Math.max(next.lease.fromWitnessUntil ?? 0, holderExpiry(e.askedAt, heldMs(e.grantedMs, s))) } };
  }

  const transitions: StepResult['transitions'] = [];
  const change = (name: string, from: ModuleSnapshot, to: ModuleSnapshot): void => {
    if (from.state === to.state) return;
    assertTransition(name, from.state, to.state);
    transitions.push({ module: name, from: from.state, to: to.state, epoch: to.epoch, reason: to.waitReason });
  };
  const modules: Record<string, ModuleSnapshot> = { ...next.modules };
  if ('module' in e) {
    const m = modules[e.module];
    if (m === undefined) throw new InvariantError(`cluster: event for unknown module ${e.module}`);
    const r = applyModuleEvent(m, e, s.self);
    change(e.module, m, r.m);
    modules[e.module] = r.m;
    effects.push(...r.effects);
  }
  next = { ...next, modules };
  // High priority first: a lower one sees the moves this step already asked for (priority.ts).
  for (const name of decisionOrder(modules)) {
    const r = decide(modules[name], { ...viewOf(next, name), higherMoving: higherMoving(modules, name) });
    change(name, modules[name], r.m);
    modules[name] = r.m;
    effects.push(...r.effects);
  }
  return { next: { ...next, modules }, effects, transitions };
}

export interface ModuleConfigView {
  name: string;
  defaultPrimary: string;
  failback: 'auto' | 'manual';
  fenceMode: 'TurnOff' | 'Save';
  /** Policies.ColdStartAloneSeconds in milliseconds; null or absent = the module never starts alone. */
  coldStartAloneMs?: number | null;
  /** Policies.StartPriority; absent = Medium. */
  startPriority?: 'High' | 'Medium' | 'Low' | 'NoAutoStart';
}

/**
 * The snapshot of a starting agent: every module WAITs (C3) unless an operator stopped it, and
 * the lease we may have granted the peer just before a crash is assumed to run a full term.
 */
export function initialSnapshot(o: {
  self: string;
  peerName: string;
  settings: ClusterSettings;
  now: number;
  modules: ModuleConfigView[];
  records: Record<string, ModuleRecord | undefined>;
  /** What the hypervisor reports of each module's VM on this host at start. */
  vms: Record<string, VmActivity | undefined>;
  /** The lease this host still holds (kept by its guard across an agent restart); none by default. */
  lease?: ClusterSnapshot['lease'];
  /** The freshness record (src/agent/cluster/freshness.ts): how far each replica was behind at the last heartbeat that vouched for it. */
  freshness?: Record<string, FreshnessEntry | undefined>;
  /** This host's maintenance flag, from its durable record (it survives a restart). */
  maintenance?: boolean;
}): ClusterSnapshot {
  const modules: Record<string, ModuleSnapshot> = {};
  for (const { coldStartAloneMs, ...c } of o.modules) {
    const r = o.records[c.name];
    const stopped = r?.State === 'STOP';
    modules[c.name] = {
      ...c,
      ...(coldStartAloneMs !== undefined && coldStartAloneMs !== null ? { coldStartAlone: { maxBehindMs: coldStartAloneMs, replicaBehindMs: replicaBehindMs(o.freshness?.[c.name], r) } } : {}),
      state: stopped ? 'STOP' : 'WAIT',
      waitReason: stopped ? null : r?.State === 'WAIT' && r.WaitReason === 'resync' ? 'resync' : 'cold-start',
      epoch: r?.Epoch ?? 0,
      owner: r?.Owner ?? null,
      generation: r?.Generation ?? 0,
      vm: o.vms[c.name] ?? 'off',
      claim: null,
      resyncing: false,
      failedAt: null,
      inSyncSince: null,
      failbackAsked: false,
      bumpPending: false,
    };
  }
  return {
    self: o.self,
    peerName: o.peerName,
    settings: o.settings,
    now: o.now,
    detector: { lastHeardAt: {} },
    lease: o.lease ?? { fromPeerUntil: null, fromWitnessUntil: null },
    grantedToPeerUntil: grantorExpiry(o.now, o.settings.leaseMs, o.settings),
    peerModules: {},
    witnessModules: {},
    modules,
    ...(o.maintenance === true ? { maintenance: true } : {}),
  };
}
