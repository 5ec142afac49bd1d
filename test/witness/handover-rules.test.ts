import { expect } from 'chai';
import { DEFAULT_LEASE_TIMINGS as T, grantorExpiry } from '../../src/cluster/lease';
import { claim, grantLease, startWitness, type ClaimKind, type WitnessState } from '../../src/cluster/witness-rules';
import { concludeCreated, concludeLost, planClaim } from '../../src/witness/share-rules';
import { seeded } from '../helpers/seed';

// A planned handover (failback, switchover): the owner at epoch E gives E+1 to the other host.
// Pure rules of both witness kinds, on a simulated clock.

const HOSTS = ['a', 'b'];
/** A witness past its quiet period where 'a' owns vm1 at epoch 3 and both hosts renew. */
describe('witness rules: a module the witness never saw', () => {
  it('vouches for a first start (epoch 1) only: a later epoch it never granted is refused (unknown-epoch)', () => {
    const s: WitnessState = { ...startWitness(0, T, HOSTS), quietUntil: 0 };
    expect(claim(s, 'vm9', 4, 'a', 0, 'own').answer).to.deep.equal({ granted: false, epoch: 0, owner: null, reason: 'unknown-epoch' });
    expect(claim(s, 'vm9', 1, 'a', 0, 'own').answer).to.deep.equal({ granted: true, epoch: 1, owner: 'a' });
  });

  it('grants a confirmation on an exact record only: never for a module it never saw, not even epoch 1', () => {
    const s: WitnessState = { ...startWitness(0, T, HOSTS), quietUntil: 0 };
    expect(claim(s, 'vm9', 1, 'a', 0, 'confirm').answer).to.deep.include({ granted: false, reason: 'unknown-epoch' });
    const owned1 = claim(s, 'vm9', 1, 'a', 0, 'own').next;
    expect(claim(owned1, 'vm9', 1, 'a', 0, 'confirm').answer).to.deep.equal({ granted: true, epoch: 1, owner: 'a' });
    expect(claim(owned1, 'vm9', 1, 'b', 0, 'confirm').answer, 'not the owner').to.deep.include({ granted: false, reason: 'unknown-epoch' });
    expect(claim(claim(owned1, 'vm9', 2, 'a', 0, 'own').next, 'vm9', 1, 'a', 0, 'confirm').answer).to.deep.include({ granted: false, epoch: 2, reason: 'stale-epoch' });
    expect(claim(owned1, 'vm9', 1, 'a', 0, 'confirm').next, 'a confirmation changes nothing').to.equal(owned1);
    expect(planClaim({ self: 'a', peer: 'b', epoch: 1, kind: 'confirm', highest: null, peerExpired: true })).to.deep.include({ answer: { granted: false, epoch: 0, owner: null, reason: 'unknown-epoch' } });
    expect(planClaim({ self: 'a', peer: 'b', epoch: 3, kind: 'confirm', highest: { epoch: 3, owner: 'a' }, peerExpired: false })).to.deep.include({ answer: { granted: true, epoch: 3, owner: 'a' } });
  });
});

function owned(now = 0): WitnessState {
  let s: WitnessState = { ...startWitness(now, T, HOSTS), quietUntil: now };
  // Epochs 1 to 3, each granted in turn (a witness vouches only for epochs it granted).
  for (const e of [1, 2, 3]) s = claim(s, 'vm1', e, 'a', now, 'own').next;
  s = grantLease(grantLease(s, 'a', now, T), 'b', now, T);
  return s;
}

describe('witness rules: handover (agent witness, pure)', () => {
  it('grants the owner epoch E+1 for the other host, with no lease check, and records (E+1, to)', () => {
    const s = owned();
    // Both leases are live: a takeover by b would be refused, a handover by the owner is not.
    expect(claim(s, 'vm1', 4, 'b', 10, 'takeover').answer).to.include({ granted: false, reason: 'owner-holds-lease' });
    const r = claim(s, 'vm1', 4, 'a', 10, 'handover', 'b');
    expect(r.answer).to.deep.equal({ granted: true, epoch: 4, owner: 'b' });
    expect(r.next.claims).to.deep.equal({ vm1: { epoch: 4, owner: 'b' } });
    // From then on b is the owner: it confirms and bumps; a's old epochs are stale, and a's
    // takeover of the next one waits for b's lease like any takeover.
    expect(claim(r.next, 'vm1', 4, 'b', 10, 'own').answer).to.deep.equal({ granted: true, epoch: 4, owner: 'b' });
    expect(claim(r.next, 'vm1', 4, 'a', 10, 'own').answer).to.deep.equal({ granted: false, epoch: 4, owner: 'b', reason: 'stale-epoch' });
    expect(claim(r.next, 'vm1', 5, 'a', 10, 'takeover').answer).to.include({ granted: false, reason: 'owner-holds-lease' });
    expect(claim(r.next, 'vm1', 5, 'a', 10, 'handover', 'b').answer).to.deep.equal({ granted: false, epoch: 4, owner: 'b', reason: 'not-owner' });
    // And b can hand it back (a switchover the other way).
    expect(claim(r.next, 'vm1', 5, 'b', 10, 'handover', 'a').answer).to.deep.equal({ granted: true, epoch: 5, owner: 'a' });
  });

  it('answers a repeat of the same handover granted again (the answer was lost), changing nothing', () => {
    const first = claim(owned(), 'vm1', 4, 'a', 10, 'handover', 'b');
    const again = claim(first.next, 'vm1', 4, 'a', 20, 'handover', 'b');
    expect(again.answer).to.deep.equal({ granted: true, epoch: 4, owner: 'b' });
    expect(again.next).to.equal(first.next);
  });

  it('refuses a handover by a host that is not the owner (not-owner)', () => {
    const s = owned();
    const r = claim(s, 'vm1', 4, 'b', 10, 'handover', 'a');
    expect(r.answer).to.deep.equal({ granted: false, epoch: 3, owner: 'a', reason: 'not-owner' });
    expect(r.next).to.equal(s);
  });

  it('refuses any epoch but E+1: an old or the current one is stale, a gap is not-next-epoch', () => {
    const s = owned();
    expect(claim(s, 'vm1', 3, 'a', 10, 'handover', 'b').answer).to.deep.equal({ granted: false, epoch: 3, owner: 'a', reason: 'stale-epoch' });
    expect(claim(s, 'vm1', 2, 'a', 10, 'handover', 'b').answer).to.deep.equal({ granted: false, epoch: 3, owner: 'a', reason: 'stale-epoch' });
    expect(claim(s, 'vm1', 5, 'a', 10, 'handover', 'b').answer).to.deep.equal({ granted: false, epoch: 3, owner: 'a', reason: 'not-next-epoch' });
    // A repeat whose epoch moved on since (b bumped) is stale: the answer names the newer epoch.
    const moved = claim(claim(s, 'vm1', 4, 'a', 10, 'handover', 'b').next, 'vm1', 5, 'b', 10, 'own').next;
    expect(claim(moved, 'vm1', 4, 'a', 10, 'handover', 'b').answer).to.deep.equal({ granted: false, epoch: 5, owner: 'b', reason: 'stale-epoch' });
  });

  it('refuses a handover of a module it has no record of: who owns it is unknown', () => {
    expect(claim(owned(), 'vm9', 1, 'a', 10, 'handover', 'b').answer).to.deep.equal({ granted: false, epoch: 0, owner: null, reason: 'not-owner' });
  });

  it('refuses a handover to the claimant itself, to an unknown host, or with no target (bad-target)', () => {
    const s = owned();
    for (const to of ['a', 'c', undefined]) {
      const r = claim(s, 'vm1', 4, 'a', 10, 'handover', to);
      expect(r.answer, String(to)).to.deep.equal({ granted: false, epoch: 3, owner: 'a', reason: 'bad-target' });
      expect(r.next).to.equal(s);
    }
    // A witness that does not know its hosts grants no handover at all.
    const blind: WitnessState = { ...s, hosts: [] };
    expect(claim(blind, 'vm1', 4, 'a', 10, 'handover', 'b').answer).to.include({ granted: false, reason: 'bad-target' });
  });

  it('grants no handover while it is quiet after a start', () => {
    const s = { ...startWitness(0, T, HOSTS), claims: { vm1: { epoch: 3, owner: 'a' } } };
    expect(claim(s, 'vm1', 4, 'a', 10, 'handover', 'b').answer).to.include({ granted: false, reason: 'witness-starting' });
    expect(claim(s, 'vm1', 4, 'a', grantorExpiry(0, T.leaseMs, T), 'handover', 'b').answer).to.deep.equal({ granted: true, epoch: 4, owner: 'b' });
  });

  it('seeded claims of every kind by both hosts: epochs only grow, and only owners hand over, to the other host at E+1', () => {
    const { seed, int, rand } = seeded('handover-rules-random');
    let s: WitnessState = { ...startWitness(0, T, HOSTS), quietUntil: 0 };
    const kinds: ClaimKind[] = ['own', 'takeover', 'handover'];
    let handovers = 0;
    // 3000 steps: a granted handover is about one step in 70, so every seed sees dozens.
    let now = 0;
    for (let step = 0; step < 3000; step++, now += int(1, 3000)) {
      for (const h of HOSTS) if (rand() < 0.6) s = grantLease(s, h, now, T);
      const host = HOSTS[int(0, 1)];
      const kind = kinds[int(0, 2)];
      const before = s.claims.vm1;
      const epoch = Math.max(1, (before?.epoch ?? 0) + int(-1, 2));
      const to = kind === 'handover' ? ['a', 'b', 'c'][int(0, 2)] : undefined;
      const { next, answer } = claim(s, 'vm1', epoch, host, now, kind, to);
      const after = next.claims.vm1;
      const at = `seed ${seed}, t ${now}, ${host} ${kind} e${epoch}${to ? ` to ${to}` : ''}`;
      if (before !== undefined) expect(after.epoch, at).to.be.at.least(before.epoch);
      if (answer.granted) expect(after, at).to.deep.equal({ epoch: answer.epoch, owner: answer.owner });
      if (kind === 'handover' && after !== before) {
        handovers++;
        expect(before, at).to.deep.equal({ epoch: epoch - 1, owner: host });
        expect(after, at).to.deep.equal({ epoch, owner: to });
        expect(to, at).to.not.equal(host);
      }
      s = next;
    }
    expect(handovers, `seed ${seed}: some handovers were granted`).to.be.greaterThan(0);
  });
});

describe('file-share rules: handover (pure)', () => {
  const base = { self: 'a', peer: 'b', epoch: 4, kind: 'handover' as const, to: 'b', peerExpired: false };

  it('plans: the owner of the highest file creates E+1 naming the peer; a repeat is granted at once', () => {
    expect(planClaim({ ...base, highest: { epoch: 3, owner: 'a' } })).to.deep.equal({ action: 'create', peerChecked: false, owner: 'b' });
    expect(planClaim({ ...base, highest: { epoch: 4, owner: 'b' } })).to.deep.equal({ action: 'answer', peerChecked: false, answer: { granted: true, epoch: 4, owner: 'b' } });
  });

  it('plans refusals: not the owner (peer or unreadable or none), stale, a gap, a bad target', () => {
    const refused = (over: object): unknown => planClaim({ ...base, highest: { epoch: 3, owner: 'a' }, ...over });
    expect(refused({ highest: { epoch: 3, owner: 'b' } })).to.deep.include({ answer: { granted: false, epoch: 3, owner: 'b', reason: 'not-owner' } });
    expect(refused({ highest: { epoch: 3, owner: null } })).to.deep.include({ answer: { granted: false, epoch: 3, owner: null, reason: 'not-owner' } });
    expect(refused({ highest: null })).to.deep.include({ answer: { granted: false, epoch: 0, owner: null, reason: 'not-owner' } });
    expect(refused({ epoch: 3 })).to.deep.include({ answer: { granted: false, epoch: 3, owner: 'a', reason: 'stale-epoch' } });
    expect(refused({ highest: { epoch: 4, owner: 'a' } })).to.deep.include({ answer: { granted: false, epoch: 4, owner: 'a', reason: 'stale-epoch' } });
    expect(refused({ epoch: 5 })).to.deep.include({ answer: { granted: false, epoch: 3, owner: 'a', reason: 'not-next-epoch' } });
    for (const to of ['a', 'c', undefined]) expect(refused({ to }), String(to)).to.deep.include({ answer: { granted: false, epoch: 3, owner: 'a', reason: 'bad-target' } });
  });

  it('concludes: created names the receiver; a higher epoch meanwhile refuses; a lost create whose file names the receiver is granted', () => {
    const c = { before: { epoch: 3, owner: 'a' }, epoch: 4, owner: 'b', peerChecked: false, peerUnchanged: false };
    expect(concludeCreated({ ...c, highest: { epoch: 4, owner: 'b' } })).to.deep.equal({ granted: true, epoch: 4, owner: 'b' });
    expect(concludeCreated({ ...c, highest: { epoch: 5, owner: 'b' } })).to.deep.equal({ granted: false, epoch: 5, owner: 'b', reason: 'stale-epoch' });
    expect(concludeLost({ epoch: 4, owner: 'b' }, 4, 'b')).to.deep.equal({ granted: true, epoch: 4, owner: 'b' });
    expect(concludeLost({ epoch: 4, owner: 'a' }, 4, 'b')).to.deep.equal({ granted: false, epoch: 4, owner: 'a', reason: 'stale-epoch' });
    expect(concludeLost({ epoch: 4, owner: null }, 4, 'b')).to.deep.equal({ granted: false, epoch: 4, owner: null, reason: 'stale-epoch' });
    expect(concludeLost({ epoch: 4, owner: 'b' }, 4)).to.deep.include({ granted: false });
  });
});
