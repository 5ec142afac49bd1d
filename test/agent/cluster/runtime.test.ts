import { expect } from 'chai';
import { GuardLeaseWriter } from '../../../src/agent/cluster/guard-writer';
import { ClusterRuntime } from '../../../src/agent/cluster/runtime';
import { initialSnapshot, type Effect } from '../../../src/cluster';
import { hasCode } from '../../../src/errors';
import { componentLogger } from '../../../src/log';
import { BASE_SETTINGS } from '../../cluster/scenario-runner';

// The runtime around the pure machine: the receiver's gate, the sender's epoch, and what the guard
// is told, on snapshots the real step() produced.

const log = componentLogger('test');

function runtime(self: string, witness = true): { rt: ClusterRuntime; effects: Effect[][]; clock: { now: number } } {
  const clock = { now: 1000 };
  const effects: Effect[][] = [];
  const snap = initialSnapshot({
    self,
    peerName: self === 'a' ? 'b' : 'a',
    settings: { ...BASE_SETTINGS, witness },
    now: clock.now,
    modules: [{ name: 'web', defaultPrimary: 'a', failback: 'auto', fenceMode: 'TurnOff' }],
    records: { web: { Version: 1, Module: 'web', State: self === 'a' ? 'PRIM' : 'SECOND', WaitReason: null, Epoch: 3, Owner: 'a', Generation: 9 } },
    vms: { web: self === 'a' ? 'running' : 'off' },
    lease: self === 'a' ? { fromPeerUntil: 6000, fromWitnessUntil: null } : undefined,
  });
  const rt = new ClusterRuntime(snap, { effects: (e) => effects.push(e), changed: () => undefined }, log, () => clock.now);
  return { rt, effects, clock };
}

function heartbeat(rt: ClusterRuntime, clock: { now: number }, state: 'PRIM' | 'SECOND', epoch: number, owner: string, vm: 'off' | 'running'): void {
  rt.dispatch({ type: 'peer-heartbeat', path: 'primary', modules: { web: { state, epoch, owner, generation: 9, vm } }, answer: { askedAt: clock.now - 5, grantedMs: 5000 } });
}

describe('src/agent/cluster/runtime (gate, send epoch, guard lease)', () => {
  it('lets the replica host receive only from the owner at the epoch it knows, with its VM off', () => {
    const { rt, clock } = runtime('b');
    heartbeat(rt, clock, 'PRIM', 3, 'a', 'running');
    expect(rt.snapshot.modules.web!.state).to.equal('SECOND');
    expect(() => rt.gate('web', 3)).to.not.throw();
    expect(hasCode(catching(() => rt.gate('web', 2)), 'STALE_EPOCH')).to.equal(true);
    expect(hasCode(catching(() => rt.gate('web', 4)), 'STALE_EPOCH'), 'an epoch not yet learnt').to.equal(true);
    expect(hasCode(catching(() => rt.gate('nope', 3)), 'MODULE_NOT_FOUND')).to.equal(true);
    rt.stop();
  });

  it('names a send epoch only while PRIM with the peer in SECOND at that epoch; the owner refuses to receive', () => {
    const { rt, clock } = runtime('a');
    expect(rt.sendEpoch('web'), 'peer not heard yet').to.equal(null);
    heartbeat(rt, clock, 'SECOND', 3, 'a', 'off');
    expect(rt.snapshot.modules.web!.state).to.equal('PRIM');
    expect(rt.sendEpoch('web')).to.equal(3);
    expect(hasCode(catching(() => rt.gate('web', 3)), 'MODULE_NOT_SECONDARY')).to.equal(true);
    rt.handingOver.add('web');
    expect(rt.sendEpoch('web'), 'no scheduled cycle during a handover').to.equal(null);
    rt.handingOver.delete('web');
    clock.now += 6000; // the peer goes silent
    rt.dispatch({ type: 'tick' });
    expect(rt.sendEpoch('web')).to.equal(null);
    rt.stop();
  });

  it('tells the guard the VMs it runs and until when (nothing at all without a witness)', () => {
    const { rt, clock } = runtime('a');
    heartbeat(rt, clock, 'SECOND', 3, 'a', 'off');
    const writer = new GuardLeaseWriter('/nonexistent', 'a', (m) => (m === 'web' ? 'vm-1' : undefined), log);
    const lease = writer.leaseFor(rt.snapshot);
    expect(lease.Vms).to.deep.equal([{ Module: 'web', VmId: 'vm-1' }]);
    expect(lease.RunnableUntilMono).to.equal(rt.runnableUntil());
    expect(lease.RunnableUntilMono!).to.be.greaterThan(clock.now);
    const noWitness = runtime('a', false);
    expect(writer.leaseFor(noWitness.rt.snapshot).Vms, 'no host can take over: nothing to fence').to.deep.equal([]);
    rt.stop();
    noWitness.rt.stop();
  });
});

function catching(fn: () => void): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return null;
}
