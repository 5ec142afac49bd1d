import { expect } from 'chai';
import { initialSnapshot, step } from '../../src/cluster';
import { nextDeadline } from '../../src/cluster/deadline';
import { BASE_SETTINGS } from './scenario-runner';

// The runner's next tick: a tick at exactly nextDeadline() makes the change a later tick would.

describe('cluster/deadline (when the runner must tick next)', () => {
  const start = () =>
    initialSnapshot({
      self: 'a',
      peerName: 'b',
      settings: BASE_SETTINGS,
      now: 0,
      modules: [{ name: 'web', defaultPrimary: 'a', failback: 'auto', fenceMode: 'TurnOff' }],
      records: { web: { Version: 1, Module: 'web', State: 'PRIM', WaitReason: null, Epoch: 3, Owner: 'a', Generation: 1 } },
      vms: { web: 'running' },
      lease: { fromPeerUntil: 4000, fromWitnessUntil: null },
    });

  it('names the fence deadline first, and a tick there fences (one ms earlier does not)', () => {
    let s = step(start(), { type: 'peer-heartbeat', now: 100, path: 'primary', modules: { web: { state: 'SECOND', epoch: 3, owner: 'a', generation: 1, vm: 'off' } }, answer: { askedAt: 90, grantedMs: 5000 } }).next;
    const d = nextDeadline(s);
    expect(d).to.equal(90 + 5000 - BASE_SETTINGS.fenceLeadMs);
    expect(step(s, { type: 'tick', now: (d as number) - 1 }).effects).to.deep.equal([]);
    s = step(s, { type: 'tick', now: d as number }).next;
    expect(s.modules.web.state).to.equal('WAIT');
    expect(s.modules.web.vm).to.equal('stopping');
  });

  it('names the instant the peer counts as lost when that comes first', () => {
    // The witness renewed its vote after the peer's last heartbeat: the peer counts as lost before the lease ends.
    const s0 = step(start(), { type: 'peer-heartbeat', now: 100, path: 'primary', modules: {}, answer: { askedAt: 90, grantedMs: 5000 } }).next;
    const s = step(s0, { type: 'witness-lease', now: 3000, askedAt: 2990, grantedMs: 5000, claims: {} }).next;
    expect(nextDeadline(s)).to.equal(100 + BASE_SETTINGS.peerTimeoutMs);
  });

  it('holds a grant for at most its own lease length (a witness or peer granting more is cut to it)', () => {
    const s = step(start(), { type: 'peer-heartbeat', now: 100, path: 'primary', modules: {}, answer: { askedAt: 90, grantedMs: 60_000 } }).next;
    expect(s.lease.fromPeerUntil).to.equal(90 + BASE_SETTINGS.leaseMs);
    const w = step(s, { type: 'witness-lease', now: 200, askedAt: 190, grantedMs: 60_000, claims: {} }).next;
    expect(w.lease.fromWitnessUntil).to.equal(190 + BASE_SETTINGS.leaseMs);
    expect(nextDeadline(w)).to.equal(190 + BASE_SETTINGS.leaseMs - BASE_SETTINGS.fenceLeadMs);
  });
});
