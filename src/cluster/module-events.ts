import { InvariantError } from '../errors';
import { persist } from './module-decide';
import type { ClusterEvent, Effect, ModuleSnapshot } from './types';

// How an event about one module changes that module's snapshot, before decide() runs (pure).

type ModuleEvent = Extract<ClusterEvent, { module: string }>;

export function applyModuleEvent(m: ModuleSnapshot, e: ModuleEvent, self: string): { m: ModuleSnapshot; effects: Effect[] } {
  switch (e.type) {
    case 'witness-claim':
      return onClaim(m, e, self);
    case 'cycle-done': {
      // A cycle of an older epoch says nothing about this one (C2).
      if (e.epoch !== m.epoch || e.generation <= m.generation) return { m, effects: [] };
      const next = { ...m, generation: e.generation };
      return { m: next, effects: [persist(next)] };
    }
    case 'effect-done':
      return onDone(m, e, self);
    case 'effect-failed':
      return onFailed(m, e);
    case 'operator':
      return onOperator(m, e);
    case 'vm-observed':
      return onObserved(m, e);
    case 'handed-over':
      return onHandedOver(m, e, self);
  }
}

function onHandedOver(m: ModuleSnapshot, e: Extract<ModuleEvent, { type: 'handed-over' }>, self: string): { m: ModuleSnapshot; effects: Effect[] } {
  if (m.owner !== self || e.epoch !== m.epoch + 1 || e.to === self || m.state !== 'PRIM') {
    throw new InvariantError(`cluster: ${m.name} handed over epoch ${e.epoch} to ${e.to} while this host held epoch ${m.epoch} as ${m.state} (owner ${m.owner ?? 'none'})`);
  }
  // The copy here equals what the final cycle sent: it is the peer's replica from now on.
  const next: ModuleSnapshot = { ...m, state: 'SECOND', waitReason: null, epoch: e.epoch, owner: e.to, vm: 'off', claim: null, bumpPending: false, failedAt: null, inSyncSince: null, failbackAsked: false };
  return { m: next, effects: [persist(next)] };
}

function onObserved(m: ModuleSnapshot, e: Extract<ModuleEvent, { type: 'vm-observed' }>): { m: ModuleSnapshot; effects: Effect[] } {
  if (e.activity === 'running') {
    // Started outside vmmirror: decide() fences it unless this host owns the module with quorum.
    return { m: { ...m, vm: 'running' }, effects: [] };
  }
  if (m.vm === 'off') return { m, effects: [] };
  // The guard fenced it (the lease lapsed for a moment): decide() starts it again if it may.
  if (e.cause === 'guard' || m.state === 'STOP') return { m: { ...m, vm: 'off' }, effects: [] };
  // Stopped by hand: vmmirror does not start it again on its own (STOP says so).
  const next: ModuleSnapshot = { ...m, vm: 'off', state: 'STOP', waitReason: null, claim: null };
  return { m: next, effects: [persist(next)] };
}

function onClaim(m: ModuleSnapshot, e: Extract<ModuleEvent, { type: 'witness-claim' }>, self: string): { m: ModuleSnapshot; effects: Effect[] } {
  const waited = m.claim !== null && m.claim.epoch === e.epoch && m.claim.status === 'asked';
  if (!e.granted) {
    // A newer epoch than ours exists: our copy is stale, whatever we asked. Fence, wait for a resync.
    if (e.current.epoch > m.epoch && e.current.owner !== self) {
      const stop = m.state === 'STOP';
      const running = m.vm === 'running' || m.vm === 'starting';
      const stale: ModuleSnapshot = { ...m, claim: null, epoch: e.current.epoch, owner: e.current.owner, bumpPending: false, state: stop ? 'STOP' : 'WAIT', waitReason: stop ? null : 'resync', resyncing: false, failedAt: null, vm: running ? 'stopping' : m.vm };
      return { m: stale, effects: [...(running ? [{ type: 'fence' as const, module: m.name, mode: m.fenceMode }] : []), persist(stale)] };
    }
    return waited ? { m: { ...m, claim: null, failedAt: e.now }, effects: [] } : { m, effects: [] };
  }
  // A grant is binding even when we stopped waiting for it (the peer came back meanwhile): the
  // witness now names this host the owner, so the peer will fence when it learns the epoch.
  if (e.epoch < m.epoch || (e.epoch === m.epoch && !waited)) return { m, effects: [] };
  if (m.owner === self && (m.state === 'PRIM' || m.state === 'ALONE')) {
    // The epoch bump of a running owner: done (the epoch may already be ours: a lease reply named it first).
    const next = { ...m, epoch: e.epoch, claim: null, bumpPending: false };
    return { m: next, effects: [persist(next)] };
  }
  // A takeover, a first start or a confirmation: the epoch is ours from now on, durably, before
  // anything runs (C2); decide() starts the VM once the peer cannot be running it.
  const next: ModuleSnapshot = { ...m, epoch: e.epoch, owner: self, claim: { epoch: e.epoch, status: 'granted', at: e.now } };
  return { m: next, effects: e.epoch !== m.epoch || m.owner !== self ? [persist(next)] : [] };
}

function onDone(m: ModuleSnapshot, e: Extract<ModuleEvent, { type: 'effect-done' }>, self: string): { m: ModuleSnapshot; effects: Effect[] } {
  switch (e.effect) {
    case 'start-vm':
      return { m: { ...m, vm: 'running', failedAt: null }, effects: [] };
    case 'fence':
    case 'stop-vm':
      return { m: { ...m, vm: 'off' }, effects: [] };
    case 'resync': {
      if (m.state !== 'WAIT') return { m: { ...m, resyncing: false }, effects: [] };
      const next: ModuleSnapshot = { ...m, state: 'SECOND', waitReason: null, resyncing: false, failedAt: null, generation: e.generation ?? m.generation };
      return { m: next, effects: [persist(next)] };
    }
    case 'failback': {
      // The planned switchover took a new epoch for this host and started the VM here.
      if (e.epoch === undefined || e.epoch < m.epoch || (e.epoch === m.epoch && m.owner !== self)) throw new InvariantError(`cluster: failback of ${m.name} reported no epoch of its own`);
      const next: ModuleSnapshot = { ...m, state: 'PRIM', waitReason: null, epoch: e.epoch, owner: self, vm: 'running', failbackAsked: false, inSyncSince: null };
      return { m: next, effects: [persist(next)] };
    }
    default:
      return { m, effects: [] };
  }
}

function onFailed(m: ModuleSnapshot, e: Extract<ModuleEvent, { type: 'effect-failed' }>): { m: ModuleSnapshot; effects: Effect[] } {
  switch (e.effect) {
    case 'promote-replica':
    case 'start-vm':
      return { m: { ...m, vm: 'off', failedAt: e.now }, effects: [] };
    case 'fence':
    case 'stop-vm':
      // The VM may still run: keep asking (decide() fences again while it is not 'off').
      return { m: { ...m, vm: 'running', failedAt: e.now }, effects: [] };
    case 'resync': {
      const next: ModuleSnapshot = { ...m, resyncing: false, failedAt: e.now, waitReason: m.state === 'WAIT' ? 'resync-failed' : m.waitReason };
      return { m: next, effects: next.waitReason !== m.waitReason ? [persist(next)] : [] };
    }
    case 'claim-epoch':
      return { m: { ...m, claim: null, failedAt: e.now }, effects: [] };
    case 'failback':
      return { m: { ...m, failbackAsked: false, failedAt: e.now, inSyncSince: e.now }, effects: [] };
    default:
      return { m, effects: [] };
  }
}

function onOperator(m: ModuleSnapshot, e: Extract<ModuleEvent, { type: 'operator' }>): { m: ModuleSnapshot; effects: Effect[] } {
  if (e.command === 'switchover') {
    // Only the host holding the replica pulls the VM to itself (the owner drives nothing: exactly
    // one side runs a switchover). decide() checks the rest in this same step.
    return { m: m.state === 'SECOND' ? { ...m, switchoverAsked: true } : m, effects: [] };
  }
  if (e.command === 'stop') {
    if (m.state === 'STOP') return { m, effects: [] };
    const running = m.vm === 'running' || m.vm === 'starting';
    const next: ModuleSnapshot = { ...m, state: 'STOP', waitReason: null, claim: null, vm: running ? 'stopping' : m.vm };
    return { m: next, effects: [...(running ? [{ type: 'stop-vm' as const, module: m.name }] : []), persist(next)] };
  }
  if (m.state !== 'STOP') return { m, effects: [] };
  const next: ModuleSnapshot = { ...m, state: 'WAIT', waitReason: 'cold-start', failedAt: null };
  return { m: next, effects: [persist(next)] };
}
