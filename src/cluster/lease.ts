// Lease arithmetic (DESIGN C4): every figure is a local monotonic time in milliseconds, and each
// side is conservative in its own direction, so no decision compares the clocks of two machines.
//
//   holder:  counts from *before* it asked   -> its lease ends no later than the grantor thinks
//   grantor: counts from *after* it granted  -> it keeps its promise at least as long as the holder
//            relies on it, plus a margin for clock-rate drift between the two machines.
//
// A host runs a VM only while `runnableUntil` lies in the future: that leaves `fenceLeadMs` to stop
// the VM before the lease can expire anywhere.

export interface LeaseTimings {
  /** How long one grant lasts. */
  leaseMs: number;
  /** Time reserved for stopping VMs before the holder's lease expires. */
  fenceLeadMs: number;
  /** Extra time a grantor waits past a grant, for scheduling delay. */
  grantMarginMs: number;
  /** Bound on the rate difference of two monotonic clocks, parts per million. */
  driftPpm: number;
}

export const DEFAULT_LEASE_TIMINGS: LeaseTimings = { leaseMs: 5000, fenceLeadMs: 1500, grantMarginMs: 500, driftPpm: 1000 };

/** When a lease the holder asked for at `askedAt` (its clock) ends, as the holder must assume. */
export function holderExpiry(askedAt: number, grantedMs: number): number {
  return askedAt + grantedMs;
}

/** Until when a grantor must honour a grant it made at `grantedAt` (its clock). */
export function grantorExpiry(grantedAt: number, grantedMs: number, t: LeaseTimings): number {
  return grantedAt + grantedMs + t.grantMarginMs + Math.ceil((grantedMs * t.driftPpm) / 1e6);
}

/** The holder's quorum: its own vote plus the best of the peer's and the witness's grants. */
export function quorumUntil(fromPeerUntil: number | null, fromWitnessUntil: number | null): number | null {
  if (fromPeerUntil === null) return fromWitnessUntil;
  if (fromWitnessUntil === null) return fromPeerUntil;
  return Math.max(fromPeerUntil, fromWitnessUntil);
}

/** The last instant at which a VM may still be running here: the quorum lease less the fence lead. */
export function runnableUntil(quorum: number | null, t: LeaseTimings): number | null {
  return quorum === null ? null : quorum - t.fenceLeadMs;
}

/** True while this host may run (or start) a VM it owns. */
export function mayRun(now: number, quorum: number | null, t: LeaseTimings): boolean {
  const until = runnableUntil(quorum, t);
  return until !== null && now < until;
}
