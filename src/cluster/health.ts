// VM health, pure (C5): from what the hypervisor says of a guest's heartbeat, the host's own health
// and the counts so far, decide whether a hung guest is restarted here, moved to the peer, or left
// alone. Proxmox's ladder (max_restart, then max_relocate, then the error state): restarts are
// counted per host the VM runs on (a move gives the new host its own tries, as Proxmox's restart
// count is per node), relocations per module (they travel with it, or two hosts would pass a
// broken guest back and forth for ever).
//
// Counts start again after the guest answered for `healthyResetMs` without a break, not in a
// sliding window: Proxmox resets on a good start, but a hang comes after a good start, so a reset
// there would restart a guest that hangs every few minutes for ever. A healthy period is the
// proof that the last restart cured it, and needs no history, only one instant.

export interface HealthPolicyMs {
  /** null: the guest heartbeat is not watched. */
  heartbeatLossMs: number | null;
  maxRestart: number;
  maxRelocate: number;
  healthyResetMs: number;
  /**
   * How long a guest restarted (or moved) for health may take to answer again before its silence
   * counts (Policies.StartTimeoutSeconds): a guest that hangs in its boot is judged too, not
   * forgotten because it never answered since its start.
   */
  bootGraceMs: number;
}

export type HealthAction = 'restart' | 'relocate' | 'give-up';

export interface HealthCounters {
  /** Restarts on this host since the VM came here (or since the last healthy period). */
  restarts: number;
  /** Moves to the peer for a hung guest (carried to the peer with the move). */
  relocations: number;
  givenUp: boolean;
  /** The guest answered (Ok*) since it last started: only then is a silence a loss. */
  armed: boolean;
  /** Monotonic instant the heartbeat was first seen lost (null: not lost). */
  lostSince: number | null;
  /** Monotonic instant since which the guest answers without a break (null: it does not). */
  healthySince: number | null;
  /** After a restart or a move for health: until this instant a silence is a boot, not a loss. */
  graceUntil: number | null;
  lastAction: { action: HealthAction; at: number; reason: string } | null;
}

export const FRESH_COUNTERS: HealthCounters = { restarts: 0, relocations: 0, givenUp: false, armed: false, lostSince: null, healthySince: null, graceUntil: null, lastAction: null };

/** What the hypervisor says of the guest, reduced to what health judges. */
export type GuestSignal = 'ok' | 'lost' | 'not-judged';

/**
 * Hyper-V's VMHeartbeatStatus as a signal: Ok* = the guest answers; LostCommunication, NoContact
 * and Error after it answered = lost; Disabled (no heartbeat integration), Paused, Unknown and
 * null (not running) say nothing about the guest. Whether a NoContact is a loss is the judge's
 * call (only once the guest answered since its start).
 */
export function guestSignal(heartbeat: string | null): GuestSignal {
  if (heartbeat === null) return 'not-judged';
  if (heartbeat.startsWith('Ok')) return 'ok';
  if (heartbeat === 'LostCommunication' || heartbeat === 'NoContact' || heartbeat === 'Error') return 'lost';
  return 'not-judged';
}

export interface HealthObservation {
  now: number;
  /** The VM runs here and this host owns it (PRIM or ALONE, VM running, no move under way). */
  runsHere: boolean;
  signal: GuestSignal;
  /** This host may act: it holds quorum and hears its peer. */
  hostHealthy: boolean;
  /** A planned switchover could move it now (the peer holds an in-sync replica). */
  peerCanTake: boolean;
}

export interface HealthDecision {
  next: HealthCounters;
  action: HealthAction | null;
  /** Why nothing is done though the heartbeat is lost past the limit (for status), else null. */
  holding: string | null;
}

export function judgeHealth(c: HealthCounters, o: HealthObservation, p: HealthPolicyMs): HealthDecision {
  if (p.heartbeatLossMs === null) return { next: c, action: null, holding: null };
  // A VM that does not run here (stopped, moving, the peer's) is not judged; a restart's grace
  // survives the moments the VM is off or starting.
  if (!o.runsHere) return { next: { ...c, armed: c.graceUntil !== null && o.now < c.graceUntil, lostSince: null, healthySince: null }, action: null, holding: null };
  if (o.signal === 'ok') {
    const healthySince = c.healthySince ?? o.now;
    const worn = c.restarts > 0 || c.relocations > 0 || c.givenUp;
    if (worn && o.now - healthySince >= p.healthyResetMs) {
      return { next: { ...c, restarts: 0, relocations: 0, givenUp: false, armed: true, lostSince: null, healthySince, graceUntil: null }, action: null, holding: null };
    }
    return { next: { ...c, armed: true, lostSince: null, healthySince, graceUntil: null }, action: null, holding: null };
  }
  if (o.signal === 'not-judged' || !c.armed) return { next: { ...c, lostSince: null, healthySince: null }, action: null, holding: null };
  if (c.graceUntil !== null && o.now < c.graceUntil) return { next: { ...c, lostSince: null, healthySince: null }, action: null, holding: null };
  const lostSince = c.lostSince ?? c.graceUntil ?? o.now;
  const lost = { ...c, lostSince, healthySince: null };
  const lostMs = o.now - lostSince;
  if (lostMs < p.heartbeatLossMs || c.givenUp) return { next: lost, action: null, holding: null };
  if (!o.hostHealthy) return { next: lost, action: null, holding: 'this host lacks quorum or its peer: it acts on its own VMs only while healthy' };
  const reason = `guest heartbeat lost for ${Math.round(lostMs / 1000)} s (limit ${Math.round(p.heartbeatLossMs / 1000)} s)`;
  const act = (action: HealthAction, next: Partial<HealthCounters>): HealthDecision => ({
    next: { ...lost, ...next, lostSince: null, graceUntil: action === 'give-up' ? null : o.now + p.bootGraceMs, lastAction: { action, at: o.now, reason } },
    action,
    holding: null,
  });
  if (c.restarts < p.maxRestart) return act('restart', { restarts: c.restarts + 1 });
  if (c.relocations < p.maxRelocate) {
    if (!o.peerCanTake) return { next: lost, action: null, holding: 'the peer holds no in-sync replica to move it to' };
    return act('relocate', { relocations: c.relocations + 1 });
  }
  return act('give-up', { givenUp: true });
}

/**
 * The counters a host starts from when the VM comes to it: its own restarts, the module's
 * relocations; after a move for health (`graceUntil` set) the guest is known to have answered
 * before, so its silence past the boot grace counts at once.
 */
export function placedCounters(relocations: number, lastAction: HealthCounters['lastAction'], graceUntil: number | null): HealthCounters {
  return { ...FRESH_COUNTERS, relocations, lastAction, armed: graceUntil !== null, graceUntil };
}
