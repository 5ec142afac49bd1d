import { expect } from 'chai';
import { DEFAULT_LEASE_TIMINGS as T, grantorExpiry } from '../../src/cluster/lease';
import { claim, grantLease, startWitness } from '../../src/cluster/witness-rules';
import { ABSENT, concludeCreated, concludeLost, highestEpochName, observe, observedExpired, planClaim } from '../../src/witness/share-rules';
import { seeded } from '../helpers/seed';

// The witness's decisions and the file-share claimant's, pure, on a simulated clock.

describe('witness rules (agent witness, pure)', () => {
  it('grants no claim during the quiet period after a start, then grants an own claim', () => {
    let s = startWitness(1000, T);
    const quiet = grantorExpiry(1000, T.leaseMs, T);
    expect(claim(s, 'vm1', 1, 'a', quiet - 1, 'own').answer).to.deep.equal({ granted: false, epoch: 0, owner: null, reason: 'witness-starting' });
    const r = claim(s, 'vm1', 1, 'a', quiet, 'own');
    expect(r.answer).to.deep.equal({ granted: true, epoch: 1, owner: 'a' });
    s = r.next;
    expect(s.claims).to.deep.equal({ vm1: { epoch: 1, owner: 'a' } });
  });

  it('refuses a takeover while the owner renews, grants it once the lease (plus margin) ran out', () => {
    let s = { ...startWitness(0, T), quietUntil: 0 };
    s = claim(s, 'vm1', 1, 'a', 0, 'own').next;
    let t = 0;
    for (; t < 20_000; t += 1000) s = grantLease(s, 'a', t, T);
    expect(claim(s, 'vm1', 2, 'b', t, 'takeover').answer).to.include({ granted: false, reason: 'owner-holds-lease' });
    const last = t - 1000;
    const until = grantorExpiry(last, T.leaseMs, T);
    expect(claim(s, 'vm1', 2, 'b', until - 1, 'takeover').answer.granted).to.equal(false);
    const r = claim(s, 'vm1', 2, 'b', until, 'takeover');
    expect(r.answer).to.deep.equal({ granted: true, epoch: 2, owner: 'b' });
    // The old owner's stale claims are refused with the current epoch, whatever it asks.
    expect(claim(r.next, 'vm1', 2, 'a', until, 'own').answer).to.deep.equal({ granted: false, epoch: 2, owner: 'b', reason: 'stale-epoch' });
    expect(claim(r.next, 'vm1', 2, 'b', until, 'own').answer).to.deep.equal({ granted: true, epoch: 2, owner: 'b' });
  });

  it('a takeover of a module it has no record of waits while the other host holds a lease', () => {
    let s = { ...startWitness(0, T), quietUntil: 0 };
    s = grantLease(s, 'a', 0, T);
    expect(claim(s, 'vm9', 3, 'b', 10, 'takeover').answer).to.include({ granted: false, reason: 'other-holds-lease' });
    expect(claim(s, 'vm9', 3, 'b', grantorExpiry(0, T.leaseMs, T), 'takeover').answer.granted).to.equal(true);
  });
});

describe('file-share rules (pure)', () => {
  const base = { self: 'b', peer: 'a', epoch: 5, kind: 'takeover' as const };

  it("judges the peer's lease expired only after its file stayed the same for lease + margin of our own clock", () => {
    const { seed, rand } = seeded('share-observe');
    let obs = observe({}, 'a', '{"Counter":1}', 100);
    const need = grantorExpiry(100, T.leaseMs, T);
    expect(observedExpired(obs, 'a', need - 1, T)).to.equal(false);
    expect(observedExpired(obs, 'a', need, T)).to.equal(true);
    // Seeded reads of the same content in between never move the start of the window.
    let t = 100;
    while (t < need) {
      t += 1 + Math.floor(rand() * 900);
      obs = observe(obs, 'a', '{"Counter":1}', t);
    }
    expect(obs.a.since, `seed ${seed}`).to.equal(100);
    // A change restarts it.
    obs = observe(obs, 'a', '{"Counter":2}', t);
    expect(observedExpired(obs, 'a', t + T.leaseMs, T)).to.equal(false);
    expect(observedExpired(observe({}, 'a', ABSENT, 0), 'a', grantorExpiry(0, T.leaseMs, T), T)).to.equal(true);
    expect(observedExpired({}, 'a', 1e9, T), 'never observed').to.equal(false);
  });

  it('plans: stale, confirmation, create, or refuse while the owner may hold its lease', () => {
    expect(planClaim({ ...base, highest: { epoch: 5, owner: 'a' }, peerExpired: true })).to.deep.equal({ action: 'answer', peerChecked: false, answer: { granted: false, epoch: 5, owner: 'a', reason: 'stale-epoch' } });
    expect(planClaim({ ...base, highest: { epoch: 4, owner: 'a' }, peerExpired: false })).to.deep.include({ action: 'answer', answer: { granted: false, epoch: 4, owner: 'a', reason: 'owner-holds-lease' } });
    expect(planClaim({ ...base, highest: { epoch: 4, owner: 'a' }, peerExpired: true })).to.deep.equal({ action: 'create', peerChecked: true, owner: 'b' });
    expect(planClaim({ ...base, highest: null, peerExpired: false }).action).to.equal('answer');
    expect(planClaim({ ...base, kind: 'own', epoch: 1, highest: null, peerExpired: false })).to.deep.equal({ action: 'create', peerChecked: false, owner: 'b' });
    // No file at all: the share vouches for a first start, never for an epoch it never held.
    expect(planClaim({ ...base, kind: 'own', highest: null, peerExpired: false })).to.deep.include({ answer: { granted: false, epoch: 0, owner: null, reason: 'unknown-epoch' } });
    expect(planClaim({ ...base, kind: 'own', highest: { epoch: 4, owner: 'b' }, peerExpired: false })).to.deep.equal({ action: 'create', peerChecked: false, owner: 'b' });
    // An own claim over the peer's epoch still needs the peer's lease gone.
    expect(planClaim({ ...base, kind: 'own', highest: { epoch: 4, owner: 'a' }, peerExpired: false }).action).to.equal('answer');
    // Our own file: confirmation (own), or a takeover only once the peer's lease is gone.
    expect(planClaim({ ...base, kind: 'own', highest: { epoch: 5, owner: 'b' }, peerExpired: false })).to.deep.include({ answer: { granted: true, epoch: 5, owner: 'b' } });
    expect(planClaim({ ...base, highest: { epoch: 5, owner: 'b' }, peerExpired: false })).to.deep.include({ answer: { granted: false, epoch: 5, owner: 'b', reason: 'owner-holds-lease' } });
    expect(planClaim({ ...base, highest: { epoch: 5, owner: 'b' }, peerExpired: true })).to.deep.include({ answer: { granted: true, epoch: 5, owner: 'b' } });
    // An unreadable highest file (creator died mid-write) has no owner: a takeover needs the peer gone.
    expect(planClaim({ ...base, highest: { epoch: 4, owner: null }, peerExpired: false })).to.deep.include({ answer: { granted: false, epoch: 4, owner: null, reason: 'other-holds-lease' } });
  });

  it('concludes after an exclusive create: a higher epoch or a peer write in between refuses', () => {
    const c = { before: { epoch: 4, owner: 'a' }, epoch: 5, owner: 'b', peerChecked: true };
    expect(concludeCreated({ ...c, highest: { epoch: 5, owner: 'b' }, peerUnchanged: true })).to.deep.equal({ granted: true, epoch: 5, owner: 'b' });
    expect(concludeCreated({ ...c, highest: { epoch: 5, owner: 'b' }, peerUnchanged: false })).to.deep.equal({ granted: false, epoch: 4, owner: 'a', reason: 'owner-holds-lease' });
    expect(concludeCreated({ ...c, highest: { epoch: 7, owner: 'a' }, peerUnchanged: true })).to.deep.equal({ granted: false, epoch: 7, owner: 'a', reason: 'stale-epoch' });
    expect(concludeCreated({ ...c, peerChecked: false, highest: { epoch: 5, owner: 'b' }, peerUnchanged: false }).granted).to.equal(true);
    expect(concludeLost({ epoch: 5, owner: 'a' }, 5)).to.deep.equal({ granted: false, epoch: 5, owner: 'a', reason: 'stale-epoch' });
  });

  it('reads only epoch-<n>.json names as epochs', () => {
    expect(highestEpochName(['epoch-2.json', 'epoch-10.json', 'epoch-9.json'])).to.equal(10);
    expect(highestEpochName(['epoch-0.json', 'epoch-01.json', 'epoch-3.json.tmp', '../epoch-99.json', 'epoch-99999999999999999.json', 'x'])).to.equal(null);
    expect(highestEpochName([])).to.equal(null);
  });
});
