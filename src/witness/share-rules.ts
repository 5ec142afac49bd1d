import type { ClaimAnswer, ClaimKind, ClaimRefusal } from '../cluster/witness-rules';
import { grantorExpiry, type LeaseTimings } from '../cluster/lease';

// What a host concludes from what it has seen on a file-share witness (pure, like witness-rules.ts).
// No clock of another machine is ever read: a host's lease on the share is a counter file it
// rewrites each renewal, and a claimant judges that lease expired only after it has watched the
// file's content stay the same for leaseMs + margin on ITS OWN monotonic clock. A renewal the
// owner wrote before that window began ended before the window did; one made visible inside the
// window changes the content; one that becomes visible only after the claimant's last read is
// counted by the owner only once its rename returned, and the owner reads the module epochs after
// that: the same lease event brings it the epoch that overtook it (its earlier lease had run out).

/** What a host last saw of one lease file: its exact content (or ABSENT) and since when (own clock). */
export interface Observation {
  value: string;
  since: number;
}
export type Observations = Record<string, Observation>;

/** The value recorded for a lease file that does not exist. */
export const ABSENT = '<absent>';

/** Records one read of `host`'s lease file; the window restarts whenever the content differs. */
export function observe(obs: Observations, host: string, value: string, now: number): Observations {
  const prev = obs[host];
  if (prev !== undefined && prev.value === value) return obs;
  return { ...obs, [host]: { value, since: now } };
}

/** True once `host`'s lease file has been seen unchanged for longer than any lease it may hold. */
export function observedExpired(obs: Observations, host: string, now: number, t: LeaseTimings): boolean {
  const o = obs[host];
  return o !== undefined && grantorExpiry(o.since, t.leaseMs, t) <= now;
}

/** The highest epoch file of a module: its number and owner (null: created but not yet readable). */
export interface EpochRecord {
  epoch: number;
  owner: string | null;
}

export interface ClaimInput {
  highest: EpochRecord | null;
  self: string;
  peer: string;
  epoch: number;
  kind: ClaimKind;
  /** With kind `handover`: the host the epoch is given to (must be the peer). */
  to?: string;
  peerExpired: boolean;
}

/**
 * Before touching the share: answer at once (a confirmation or a refusal), or create the epoch
 * file naming `owner` (the claimant, or a handover's receiver). `peerChecked` says the grant rests
 * on the peer's lease having expired, so it must still be unchanged after the file is created (see
 * concludeCreated).
 */
export type ClaimPlan = { action: 'answer'; answer: ClaimAnswer; peerChecked: boolean } | { action: 'create'; peerChecked: boolean; owner: string };

function refusal(h: EpochRecord | null, reason: ClaimRefusal): ClaimPlan {
  return { action: 'answer', peerChecked: false, answer: { granted: false, epoch: h?.epoch ?? 0, owner: h?.owner ?? null, reason } };
}

export function planClaim(c: ClaimInput): ClaimPlan {
  if (c.kind === 'handover') return planHandover(c);
  const h = c.highest;
  const refuse = (reason: ClaimRefusal): ClaimPlan => refusal(h, reason);
  // A confirmation is granted on an exact record only (witness-rules.ts ClaimKind); it creates nothing.
  if (c.kind === 'confirm') {
    if (h !== null && h.epoch === c.epoch && h.owner === c.self) return { action: 'answer', peerChecked: false, answer: { granted: true, epoch: h.epoch, owner: c.self } };
    return refuse(h !== null && h.epoch > c.epoch ? 'stale-epoch' : 'unknown-epoch');
  }
  if (h !== null && c.epoch === h.epoch && h.owner === c.self) {
    // Our own epoch file: a confirmation. A takeover still needs the peer's lease gone (our
    // earlier attempt may have lost the race described in concludeCreated).
    if (c.kind === 'takeover' && !c.peerExpired) return refuse('owner-holds-lease');
    return { action: 'answer', peerChecked: c.kind === 'takeover', answer: { granted: true, epoch: h.epoch, owner: c.self } };
  }
  if (h !== null && c.epoch <= h.epoch) return refuse('stale-epoch');
  // No epoch file at all: the share can vouch for a first start, never for an epoch it never held
  // (its files were lost, or the module predates the witness): witness-rules.ts says why.
  if (h === null && c.kind === 'own' && c.epoch > 1) return refuse('unknown-epoch');
  // The current owner is the peer: only once its lease is over. No readable owner (never claimed,
  // or a creator that died before writing): an own claim proceeds, a takeover needs the peer gone.
  const ownerIsPeer = h !== null && h.owner !== null && h.owner !== c.self;
  const needPeer = ownerIsPeer || ((h === null || h.owner === null) && c.kind === 'takeover');
  if (needPeer && !c.peerExpired) return refuse(ownerIsPeer ? 'owner-holds-lease' : 'other-holds-lease');
  return { action: 'create', peerChecked: needPeer, owner: c.self };
}

/**
 * A handover (witness-rules.ts handover(), same rule): only the owner of the highest epoch file
 * gives exactly the next epoch to the peer, by creating that file with the peer as its Owner. No
 * lease is checked (the owner gives up). A repeat, the highest file already naming the peer at
 * this epoch, is granted again. An unreadable highest file has no owner: refused, the owner claims
 * a newer epoch of its own first.
 */
function planHandover(c: ClaimInput): ClaimPlan {
  const h = c.highest;
  if (c.to === undefined || c.to === c.self || c.to !== c.peer) return refusal(h, 'bad-target');
  if (h !== null && c.epoch === h.epoch && h.owner === c.to) return { action: 'answer', peerChecked: false, answer: { granted: true, epoch: h.epoch, owner: c.to } };
  if (h !== null && c.epoch <= h.epoch) return refusal(h, 'stale-epoch');
  if (h === null || h.owner !== c.self) return refusal(h, 'not-owner');
  if (c.epoch !== h.epoch + 1) return refusal(h, 'not-next-epoch');
  return { action: 'create', peerChecked: false, owner: c.to };
}

/**
 * After this host created epoch `epoch` exclusively: granted unless a higher epoch appeared
 * meanwhile, or (when the grant rests on the peer's lease) the peer's lease file changed between
 * the judgement and the creation. In that race the file stays ours but nothing runs on it: the
 * answer names the epoch before ours, so the machine retries, and the retry (a confirmation of
 * our own file) is granted only once the peer's lease is really over. `owner` is the Owner the
 * created file names.
 */
export function concludeCreated(c: { before: EpochRecord | null; highest: EpochRecord | null; epoch: number; owner: string; peerChecked: boolean; peerUnchanged: boolean }): ClaimAnswer {
  const h = c.highest;
  if (h !== null && h.epoch > c.epoch) return { granted: false, epoch: h.epoch, owner: h.owner, reason: 'stale-epoch' };
  if (c.peerChecked && !c.peerUnchanged) return { granted: false, epoch: c.before?.epoch ?? 0, owner: c.before?.owner ?? null, reason: 'owner-holds-lease' };
  return { granted: true, epoch: c.epoch, owner: c.owner };
}

/**
 * What an exclusive create that failed (the file exists) answers: the newest epoch, refused; but
 * a handover whose epoch file already names its receiver (say an earlier attempt of ours that
 * timed out, then landed) is granted: the share says what it asked, as for a repeat.
 */
export function concludeLost(highest: EpochRecord | null, epoch: number, handoverTo?: string): ClaimAnswer {
  if (handoverTo !== undefined && highest !== null && highest.epoch === epoch && highest.owner === handoverTo) return { granted: true, epoch, owner: handoverTo };
  return { granted: false, epoch: highest?.epoch ?? epoch, owner: highest?.owner ?? null, reason: 'stale-epoch' };
}

/** Highest epoch among file names of a module folder (`epoch-<n>.json`); anything else is ignored. */
export function highestEpochName(names: string[]): number | null {
  let best: number | null = null;
  for (const n of names) {
    const m = /^epoch-([1-9][0-9]{0,15})\.json$/.exec(n);
    if (!m) continue;
    const e = Number(m[1]);
    if (Number.isSafeInteger(e) && (best === null || e > best)) best = e;
  }
  return best;
}
