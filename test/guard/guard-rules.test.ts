import { expect } from 'chai';
import { decide, foreignClock, remember, type GuardMemory } from '../../src/guard/guard-rules';
import type { GuardLease } from '../../src/guard/lease-file';

const lease = (until: number | null, written: number, vms = [{ Module: 'web', VmId: 'v1' }]): GuardLease => ({ Version: 1, Host: 'a', AgentPid: 1, RunnableUntilMono: until, Vms: vms, WrittenAtMono: written });

describe('guard/guard-rules', () => {
  it('fences the listed VMs exactly when the deadline passes, not before', () => {
    const mem = remember({ lease: null }, lease(1000, 10));
    expect(decide(mem, 999)).to.deep.equal({ action: 'none' });
    expect(decide(mem, 1000)).to.deep.equal({ action: 'fence', vms: [{ Module: 'web', VmId: 'v1' }], reason: 'lease-expired' });
  });

  it('treats a damaged or vanished file as no renewal: the last valid lease runs out as before', () => {
    let mem: GuardMemory = remember({ lease: null }, lease(1000, 10));
    mem = remember(mem, 'damaged');
    mem = remember(mem, 'missing');
    expect(decide(mem, 1000).action).to.equal('fence');
  });

  it('ignores a lease written before the one it holds (an old temp file renamed late)', () => {
    let mem: GuardMemory = remember({ lease: null }, lease(1000, 20));
    mem = remember(mem, lease(9000, 10));
    expect(decide(mem, 1000).action).to.equal('fence');
  });

  it('fences at once when the agent says it holds no lease, and does nothing with no VM listed', () => {
    expect(decide(remember({ lease: null }, lease(null, 1)), 0)).to.deep.include({ action: 'fence', reason: 'no-lease' });
    expect(decide(remember({ lease: null }, lease(null, 1, [])), 0)).to.deep.equal({ action: 'none' });
    expect(decide({ lease: null }, 0)).to.deep.equal({ action: 'none' });
  });
});

describe('src/guard/guard-rules (leases of another clock)', () => {
  it('takes a lease written after now, or running longer than any lease past its writing, as foreign: fenced at once, superseded by any real one', () => {
    expect(foreignClock(lease(1500, 1000), 2000, 5000)).to.equal(false);
    expect(foreignClock(lease(90_000_000, 86_400_000), 2000, 5000), 'written a day ahead: a previous boot').to.equal(true);
    expect(foreignClock(lease(80_000, 1000), 2000, 5000), 'runs 79 s past its writing').to.equal(true);
    let mem = remember({ lease: null }, lease(90_000_000, 86_400_000), 2000, 5000);
    expect(decide(mem, 2000)).to.deep.include({ action: 'fence', reason: 'foreign-clock' });
    mem = remember(mem, lease(6000, 2100), 2200, 5000);
    expect(decide(mem, 2200), 'a lease of this clock supersedes it').to.deep.equal({ action: 'none' });
  });
});
