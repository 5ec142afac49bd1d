import { coldStartMove } from './cold-start';
import { lastHeard, peerAlive } from './detector';
import { mayRun, quorumUntil } from './lease';
import type { ClusterSnapshot, Effect, ModuleSnapshot, ModuleState, WaitReason } from './types';

// What one module does next, given everything this host knows (pure). Called after every event;
// it is idempotent: effects already asked for (claim, resync, start) are remembered in the module
// snapshot and not asked again until they are answered or their retry pause has passed.

export interface Decision {
  m: ModuleSnapshot;
  effects: Effect[];
}

interface View {
  now: number;
  self: string;
  canRun: boolean;
  alive: boolean;
  peer: ClusterSnapshot['peerModules'][string] | undefined;
  /** The newest (epoch, owner) known from the peer's heartbeat (while it is alive) or the witness's last lease reply. */
  newest: { epoch: number; owner: string | null } | undefined;
  witness: boolean;
  peerGrantExpired: boolean;
  /** Some heartbeat arrived since this agent started (the cold-start opt-in then no longer applies). */
  peerHeard: boolean;
  retryDue: (m: ModuleSnapshot) => boolean;
  failbackStableMs: number;
  /** This host is in maintenance: nothing moves onto it (what it owns runs on, or it would run nowhere). */
  maintenance: boolean;
  /** A module of a higher start priority is being moved onto this host (priority.ts): this one waits. */
  higherMoving?: boolean;
}

export function viewOf(s: ClusterSnapshot, name: string): View {
  const alive = peerAlive(s.detector, s.now, s.settings.peerTimeoutMs);
  const fromPeer = alive ? s.peerModules[name] : undefined;
  const fromWitness = s.witnessModules[name];
  const newest = fromPeer === undefined ? fromWitness : fromWitness === undefined || fromPeer.epoch >= fromWitness.epoch ? fromPeer : fromWitness;
  return {
    newest,
    now: s.now,
    self: s.self,
    // Without a witness no host can ever take a module over (one vote of two is no quorum), so an
    // owner keeps its VMs when the peer goes silent: fencing them would protect nothing.
    canRun: !s.settings.witness || mayRun(s.now, quorumUntil(s.lease.fromPeerUntil, s.lease.fromWitnessUntil), s.settings),
    alive,
    peer: alive ? s.peerModules[name] : undefined,
    witness: s.settings.witness,
    peerGrantExpired: s.grantedToPeerUntil === null || s.now >= s.grantedToPeerUntil,
    peerHeard: lastHeard(s.detector) !== null,
    retryDue: (m) => m.failedAt === null || s.now - m.failedAt >= s.settings.retryMs,
    failbackStableMs: s.settings.failbackStableMs,
    maintenance: s.maintenance === true,
  };
}

export function persist(m: ModuleSnapshot): Effect {
  return { type: 'persist', module: m.name, state: m.state, waitReason: m.waitReason, epoch: m.epoch, owner: m.owner, generation: m.generation };
}

function to(m: ModuleSnapshot, state: ModuleState, waitReason: WaitReason | null = null): ModuleSnapshot {
  return { ...m, state, waitReason, inSyncSince: state === 'SECOND' ? m.inSyncSince : null, failbackAsked: state === 'SECOND' ? m.failbackAsked : false };
}

function fenceIfRunning(m: ModuleSnapshot): { m: ModuleSnapshot; effects: Effect[] } {
  if (m.vm === 'off' || m.vm === 'stopping') return { m, effects: [] };
  return { m: { ...m, vm: 'stopping' }, effects: [{ type: 'fence', module: m.name, mode: m.fenceMode }] };
}

/**
 * The peer cannot be running this VM, now or a moment from now: it says its VM is off *and* it
 * knows our epoch (so it will not start its own older one: a view of an older epoch may be racing
 * a start there); or, with the peer silent, the lease we granted it has run out.
 */
function peerCannotRun(m: ModuleSnapshot, v: View): boolean {
  return v.peer !== undefined ? v.peer.vm === 'off' && v.peer.epoch >= m.epoch : v.peerGrantExpired;
}

/**
 * Start (or keep) the VM here as its owner: PRIM when the peer holds the replica at our epoch.
 * A VM that is off starts only once the peer cannot be running it; until then nothing changes.
 */
function run(m: ModuleSnapshot, v: View): Decision {
  if (m.vm === 'off' && !peerCannotRun(m, v)) return { m, effects: [] };
  const state: ModuleState = v.peer?.state === 'SECOND' && v.peer.epoch === m.epoch ? 'PRIM' : 'ALONE';
  let next = to({ ...m, owner: v.self, claim: null }, state);
  const effects: Effect[] = [];
  if (state !== m.state || m.claim !== null) effects.push(persist(next));
  if (next.vm === 'off' && v.retryDue(next)) {
    effects.push({ type: 'promote-replica', module: m.name }, { type: 'start-vm', module: m.name });
    next = { ...next, vm: 'starting' };
  }
  return { m: next, effects };
}

function ask(m: ModuleSnapshot, v: View, epoch: number, kind: 'own' | 'takeover' | 'confirm' = 'own'): Decision {
  return { m: { ...m, claim: { epoch, status: 'asked', at: v.now } }, effects: [{ type: 'claim-epoch', module: m.name, epoch, kind }] };
}

export function decide(m0: ModuleSnapshot, v: View): Decision {
  // An operator's switchover is taken in this step or dropped: never remembered for later.
  const switchoverAsked = m0.switchoverAsked === true;
  let m = switchoverAsked ? { ...m0, switchoverAsked: false } : m0;
  if (m.state === 'STOP') return { m, effects: [] };

  // C2: a newer epoch, held by the peer, wins (the peer says so, or the witness). Whatever this
  // host was, its copy is now stale. A lease always comes with its voter's epochs (the peer's
  // heartbeat answer, the witness's lease reply), so no lease can be used for an epoch it
  // contradicts.
  if (v.newest !== undefined && v.newest.epoch > m.epoch && v.newest.owner !== v.self) {
    const fenced = fenceIfRunning(m);
    m = { ...fenced.m, epoch: v.newest.epoch, owner: v.newest.owner, claim: null, bumpPending: false };
    // A copy that never held a generation has nothing to discard: the next cycle seeds it.
    if (m.generation === 0 && m0.owner === null) {
      m = to(m, 'SECOND');
      return { m, effects: [...fenced.effects, persist(m)] };
    }
    m = { ...to(m, 'WAIT', 'resync'), resyncing: false, failedAt: null };
    const r = startResync(m, v);
    return { m: r.m, effects: [...fenced.effects, persist(m), ...r.effects] };
  }

  // A newer epoch granted to us (the witness's answer was lost, or we crashed before recording
  // it): it is ours; record it.
  if (v.newest !== undefined && v.newest.epoch > m.epoch && v.newest.owner === v.self) {
    const epoch = v.newest.epoch;
    m = { ...m, epoch, owner: v.self, bumpPending: false, claim: m.claim?.epoch === epoch ? m.claim : null };
    const r = decide(m, v);
    return { m: r.m, effects: [persist(m), ...r.effects] };
  }

  // A module never owned by anyone, whose VM already runs on its default primary (vmmirror was just
  // installed beside a running VM): it is adopted under epoch 1, never fenced. No copy of it exists
  // elsewhere: the peer holds no generation, and a takeover needs one.
  const adopting = m.owner === null && m.epoch === 0 && m.defaultPrimary === v.self;

  // Nothing may run here without quorum (C1): fence before the lease can expire anywhere.
  if (!v.canRun && !adopting && (m.vm === 'running' || m.vm === 'starting')) {
    const fenced = fenceIfRunning(m);
    m = m.state === 'WAIT' || m.state === 'SECOND' ? fenced.m : to(fenced.m, 'WAIT', 'no-quorum');
    return { m, effects: [...fenced.effects, ...(m.state !== m0.state ? [persist(m)] : [])] };
  }

  // A VM running here on a copy this host does not own (started by hand) is fenced at once.
  if ((m.vm === 'running' || m.vm === 'starting') && m.owner !== v.self && m.claim?.status !== 'granted' && !adopting) {
    const fenced = fenceIfRunning(m);
    return { m: fenced.m, effects: fenced.effects };
  }

  switch (m.state) {
    case 'PRIM':
    case 'ALONE':
      return decideOwner(m, v);
    case 'SECOND':
      return decideSecond(m, v, switchoverAsked);
    case 'WAIT':
      return decideWait(m, v);
  }
}

function decideOwner(m0: ModuleSnapshot, v: View): Decision {
  let m = m0;
  if (!v.canRun) {
    m = to(m, 'WAIT', 'no-quorum');
    return { m, effects: [persist(m)] };
  }
  const effects: Effect[] = [];
  if (!v.alive && m.state === 'PRIM') {
    m = { ...to(m, 'ALONE'), bumpPending: v.witness };
    effects.push(persist(m));
  }
  if (m.bumpPending && m.claim === null && v.retryDue(m)) {
    // The peer's copy stops at this epoch: a new epoch (same owner) marks it stale, so it can
    // neither be taken over later nor started after a cold start (C3).
    const r = ask(m, v, m.epoch + 1);
    return { m: r.m, effects: [...effects, ...r.effects] };
  }
  if (m.claim !== null || m.bumpPending) return { m, effects };
  const r = run(m, v);
  return { m: r.m, effects: [...effects, ...r.effects] };
}

function decideSecond(m: ModuleSnapshot, v: View, switchoverAsked = false): Decision {
  // A granted takeover (the epoch is already ours: the witness said so, to us or in a lease reply
  // whose claim answer was then lost) proceeds as soon as it is safe. A failback in flight starts
  // the VM itself (the planned switchover), so the machine does not.
  if (m.claim?.status === 'granted' || (m.owner === v.self && !m.failbackAsked)) return v.canRun ? run(m, v) : { m, effects: [] };
  if (v.alive) {
    const peerRuns = v.peer?.state === 'PRIM' && v.peer.epoch === m.epoch;
    // An operator's planned switchover to this host, in either direction and whatever the
    // module's Failback policy: the same move as a failback, when the owner counts this copy in
    // sync (PRIM at our epoch) and this host may run VMs.
    if (switchoverAsked && peerRuns && !m.failbackAsked && v.canRun && !v.maintenance && m.owner === v.peer?.owner) {
      return { m: { ...m, claim: null, failbackAsked: true }, effects: [{ type: 'failback', module: m.name, epoch: m.epoch }] };
    }
    if (m.defaultPrimary !== v.self || m.failback !== 'auto' || !peerRuns || v.maintenance || m.startPriority === 'NoAutoStart') return { m: { ...m, claim: null, inSyncSince: null }, effects: [] };
    const since = m.inSyncSince ?? v.now;
    if (m.failbackAsked || v.now - since < v.failbackStableMs || !v.retryDue(m) || v.higherMoving === true) return { m: { ...m, claim: null, inSyncSince: since }, effects: [] };
    return { m: { ...m, claim: null, inSyncSince: since, failbackAsked: true }, effects: [{ type: 'failback', module: m.name, epoch: m.epoch }] };
  }
  // Peer lost: only a witness can give the vote a takeover needs, and only a copy that holds a
  // replicated generation is worth starting (generation 0 is an empty or foreign copy).
  // A host in maintenance takes nothing over (as a paused WSFC node or a Proxmox node in maintenance):
  // its operator may be patching or rebooting it; `vmmirror resume` lets it take over again.
  // NoAutoStart is never taken over on its own; a lower priority waits for the higher ones' moves.
  if (!v.witness || !v.canRun || v.maintenance || m.startPriority === 'NoAutoStart' || v.higherMoving === true || m.generation === 0 || m.claim !== null || !v.retryDue(m)) return { m, effects: [] };
  return ask(m, v, m.epoch + 1, 'takeover');
}

function startResync(m: ModuleSnapshot, v: View): Decision {
  if (!v.alive || m.resyncing || !v.retryDue(m)) return { m, effects: [] };
  return { m: { ...m, resyncing: true }, effects: [{ type: 'resync', module: m.name, epoch: m.epoch }] };
}

function decideWait(m: ModuleSnapshot, v: View): Decision {
  if (m.waitReason === 'resync' || m.waitReason === 'resync-failed') return startResync(m, v);
  // The cold-start opt-in (cold-start.ts says when, and what it risks).
  const moving = coldStartMove(m, { self: v.self, witness: v.witness, peerHeard: v.peerHeard, peerGrantExpired: v.peerGrantExpired });
  // In maintenance a change of runner to this host waits (its own epoch still runs: 'run-own').
  const alone = (v.maintenance || m.startPriority === 'NoAutoStart') && (moving === 'take-alone' || moving === 'claim-takeover') ? null : moving;
  if (alone === 'run-own') return run(m, v);
  // A change of runner: the next epoch is ours, and run() persists it (WAIT -> ALONE) before the start.
  if (alone === 'take-alone') return run({ ...m, epoch: m.epoch + 1, owner: v.self, claim: null }, v);
  if (alone === 'claim-takeover') return !v.canRun || m.claim !== null || !v.retryDue(m) ? { m, effects: [] } : ask(m, v, m.epoch + 1, 'takeover');
  if (m.owner === v.self) {
    if (!v.canRun) return { m, effects: [] };
    // Our copy is the newest when the peer, at no newer epoch, says so; or the witness confirms it.
    if (v.peer !== undefined || (m.claim?.status === 'granted' && m.claim.epoch === m.epoch)) return run(m, v);
    if (!v.witness || m.claim !== null || !v.retryDue(m)) return { m, effects: [] };
    return ask(m, v, m.epoch, 'confirm');
  }
  if (m.owner === null && m.defaultPrimary === v.self) {
    // A module never started: its default primary takes epoch 1 (through the witness when there is one).
    if (!v.canRun || v.maintenance || m.startPriority === 'NoAutoStart') return { m, effects: [] };
    if (v.witness) return m.claim !== null || !v.retryDue(m) ? { m, effects: [] } : ask(m, v, m.epoch + 1);
    if (v.peer === undefined || v.peer.owner !== null) return { m, effects: [] };
    // Epoch 1 is ours by the rule both hosts share; it starts once the peer has learnt it.
    const next = { ...m, epoch: m.epoch + 1, owner: v.self };
    return { m: next, effects: [persist(next)] };
  }
  // A copy that belongs to the peer waits for it (C3: never start a copy that may be stale).
  if (v.peer === undefined) return { m, effects: [] };
  const fenced = fenceIfRunning(m);
  const next = to({ ...fenced.m, owner: v.peer.owner ?? m.owner }, 'SECOND');
  return { m: next, effects: [...fenced.effects, persist(next)] };
}
