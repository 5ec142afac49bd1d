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
    const s = step(start(), { type: 'peer-heartbeat', now: 100, path: 'primary', modules: {}, answer: { askedAt: 90, grantedMs: 60_000 } }).next;
    expect(nextDeadline(s)).to.equal(100 + BASE_SETTINGS.peerTimeoutMs);
  });
});
