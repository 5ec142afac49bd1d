import { grantorExpiry, type LeaseTimings } from './lease';

// The witness's decisions, pure (the third vote, DESIGN section 6). It holds a lease per host and
// the current (epoch, owner) of each module. It grants a claim to a new epoch only to the current
// owner, or to the other host once the owner's lease has expired on the witness's own clock:
// a host that still holds a live lease can never be overtaken. The one way an epoch passes to a
// host that did not ask is a handover (failback, planned switchover), and only the owner gives it.

export interface WitnessState {
  /**
   * Until when the witness grants no claim after it (re)started: it has forgotten the leases it
   * granted before, so it waits out the longest of them (`grantorExpiry(startedAt, ...)`).
   */
  quietUntil: number;
  /** Per host, until when the witness honours its last grant (witness's monotonic clock). */
  leases: Record<string, number>;
  /** Per module, the newest claim granted. */
  claims: Record<string, { epoch: number; owner: string }>;
  /** The two configured hosts (witness.json Hosts): the only hosts a handover may name. */
  hosts?: readonly string[];
}

/**
 * `own`: a new epoch for the host that runs (or first starts) the VM; `takeover`: a new epoch for
 * the host holding the replica; `handover`: the owner gives the next epoch to the other host;
 * `confirm`: "do you hold that I own this epoch?" (a cold-started owner): granted only on an exact
 * record, so a witness that never saw (or forgot) the module can never vouch for an old copy.
 */
export type ClaimKind = 'own' | 'takeover' | 'handover' | 'confirm';

export type ClaimRefusal = 'stale-epoch' | 'owner-holds-lease' | 'other-holds-lease' | 'witness-starting' | 'not-owner' | 'not-next-epoch' | 'bad-target' | 'unknown-epoch';

export type ClaimAnswer = { granted: true; epoch: number; owner: string } | { granted: false; epoch: number; owner: string | null; reason: ClaimRefusal };

export function startWitness(now: number, t: LeaseTimings, hosts: readonly string[] = []): WitnessState {
  return { quietUntil: grantorExpiry(now, t.leaseMs, t), leases: {}, claims: {}, hosts };
}

export function grantLease(s: WitnessState, host: string, now: number, t: LeaseTimings): WitnessState {
  return { ...s, leases: { ...s.leases, [host]: grantorExpiry(now, t.leaseMs, t) } };
}

export function leaseLive(s: WitnessState, host: string, now: number): boolean {
  const until = s.leases[host];
  return until !== undefined && now < until;
}

/**
 * A claim of `epoch` for `module` by `host`. Granted when the epoch is newer than the current one
 * and the current owner is the claimant or no longer holds a lease; a claim of the current epoch
 * by its own owner is a confirmation (a cold-started owner learning its copy is the newest).
 *
 * `kind` says what the claimant asserts: `own` (it runs or ran the VM: a first start, an epoch
 * bump, a confirmation) or `takeover` (it holds the replica and the owner is silent). A module
 * the witness has no record of (a witness replaced with an empty state) is granted to an `own`
 * claim, and to a takeover only while no other host holds a live lease. `handover` (with `to`)
 * gives the next epoch to the other host: see handover() below.
 */
export function claim(s: WitnessState, module: string, epoch: number, host: string, now: number, kind: ClaimKind, to?: string): { next: WitnessState; answer: ClaimAnswer } {
  const current = s.claims[module];
  if (now < s.quietUntil) return { next: s, answer: { granted: false, epoch: current?.epoch ?? 0, owner: current?.owner ?? null, reason: 'witness-starting' } };
  if (kind === 'handover') return handover(s, module, epoch, host, to);
  if (kind === 'confirm') {
    if (current !== undefined && current.epoch === epoch && current.owner === host) return { next: s, answer: { granted: true, ...current } };
    return { next: s, answer: { granted: false, epoch: current?.epoch ?? 0, owner: current?.owner ?? null, reason: current !== undefined && current.epoch > epoch ? 'stale-epoch' : 'unknown-epoch' } };
  }
  if (current === undefined) {
    // The witness has never seen this module (or lost its state): it can vouch for a first start
    // (epoch 1), never for a later epoch it never granted. A host back from a long absence
    // confirming its old epoch at a witness that forgot the newer one would start a stale copy (C3).
    if (kind === 'own' && epoch > 1) return { next: s, answer: { granted: false, epoch: 0, owner: null, reason: 'unknown-epoch' } };
    // On a takeover, any other host with a live lease may be running it.
    const other = kind === 'own' ? undefined : Object.keys(s.leases).find((h) => h !== host && leaseLive(s, h, now));
    if (other !== undefined) return { next: s, answer: { granted: false, epoch: 0, owner: null, reason: 'other-holds-lease' } };
  } else {
    if (epoch === current.epoch && host === current.owner) return { next: s, answer: { granted: true, ...current } };
    if (epoch <= current.epoch) return { next: s, answer: { granted: false, ...current, reason: 'stale-epoch' } };
    if (current.owner !== host && leaseLive(s, current.owner, now)) return { next: s, answer: { granted: false, ...current, reason: 'owner-holds-lease' } };
  }
  const granted = { epoch, owner: host };
  return { next: { ...s, claims: { ...s.claims, [module]: granted } }, answer: { granted: true, ...granted } };
}

/**
 * The owner of `module` at epoch E hands epoch E+1 to `to`, the other configured host (a failback
 * or a planned switchover: the owner has stopped the VM and sent its final cycle). The owner asks,
 * not the receiver: only the owner knows its VM is off and its last writes are on the peer, and
 * the receiver could not claim E+1 anyway while the owner's lease is live. No lease is checked:
 * the owner gives up, and the receiver starts only once it hears of the grant.
 *
 * A repeat (the record already says (E+1, to): the answer was lost) is granted again. With two
 * hosts, a handover to `to` can only come from the other one, so the repeat is the same claimant's.
 */
function handover(s: WitnessState, module: string, epoch: number, host: string, to: string | undefined): { next: WitnessState; answer: ClaimAnswer } {
  const current = s.claims[module];
  const refuse = (reason: ClaimRefusal): { next: WitnessState; answer: ClaimAnswer } => ({ next: s, answer: { granted: false, epoch: current?.epoch ?? 0, owner: current?.owner ?? null, reason } });
  if (to === undefined || to === host || !(s.hosts ?? []).includes(to) || !(s.hosts ?? []).includes(host)) return refuse('bad-target');
  // A witness without a record of the module cannot tell who owns it: the owner claims it first ('own').
  if (current === undefined) return refuse('not-owner');
  if (epoch === current.epoch && current.owner === to) return { next: s, answer: { granted: true, ...current } };
  if (epoch <= current.epoch) return refuse('stale-epoch');
  if (current.owner !== host) return refuse('not-owner');
  // Exactly the next epoch: the receiver's record steps from E to E+1, with no epoch nobody held.
  if (epoch !== current.epoch + 1) return refuse('not-next-epoch');
  const granted = { epoch, owner: to };
  return { next: { ...s, claims: { ...s.claims, [module]: granted } }, answer: { granted: true, ...granted } };
}
