import { expect } from 'chai';
import { FRESH_COUNTERS, guestSignal, judgeHealth, type GuestSignal, type HealthCounters, type HealthObservation, type HealthPolicyMs } from '../../src/cluster/health';
import { resolveHealthPolicy } from '../../src/config/common';

// The pure VM-health judge: a loss counts only after the guest answered, only past the limit,
// only while the host is healthy; restarts first, then relocations, then give-up; a healthy
// period resets; null = not watched.

const P: HealthPolicyMs = { heartbeatLossMs: 10_000, maxRestart: 1, maxRelocate: 1, healthyResetMs: 60_000, bootGraceMs: 20_000 };
const OBS: Omit<HealthObservation, 'now' | 'signal'> = { runsHere: true, hostHealthy: true, peerCanTake: true };

/** Feeds the judge one signal per second from `from` (inclusive) for `seconds`; returns the counters and the actions taken. */
function run(c: HealthCounters, from: number, seconds: number, signal: GuestSignal, o: Partial<HealthObservation> = {}, p = P): { c: HealthCounters; actions: Array<[number, string]>; holding: string | null } {
  const actions: Array<[number, string]> = [];
  let holding: string | null = null;
  for (let t = from; t < from + seconds * 1000; t += 1000) {
    const r = judgeHealth(c, { ...OBS, ...o, now: t, signal }, p);
    c = r.next;
    holding = r.holding;
    if (r.action !== null) actions.push([t, r.action]);
  }
  return { c, actions, holding };
}

describe('src/cluster/health (VM health: restart, relocate, give up)', () => {
  it('maps Hyper-V heartbeat statuses: Ok* answers, LostCommunication/NoContact/Error lost, the rest (Disabled, Paused, Unknown, none) not judged', () => {
    expect(['OkApplicationsHealthy', 'OkApplicationsUnknown', 'OkApplicationsCritical'].map(guestSignal)).to.deep.equal(['ok', 'ok', 'ok']);
    expect(['LostCommunication', 'NoContact', 'Error'].map(guestSignal)).to.deep.equal(['lost', 'lost', 'lost']);
    expect(['Disabled', 'Paused', 'Unknown', null].map(guestSignal)).to.deep.equal(['not-judged', 'not-judged', 'not-judged', 'not-judged']);
  });

  it('a guest never seen answering (no integration, NoContact from its start) is never judged', () => {
    const r = run(FRESH_COUNTERS, 0, 120, 'lost');
    expect(r.actions).to.deep.equal([]);
    expect(r.c.lostSince).to.equal(null);
  });

  it('restarts after exactly HeartbeatLossSeconds of loss, then relocates on the next loss, then gives up; each action says why', () => {
    let s = run(FRESH_COUNTERS, 0, 5, 'ok');
    s = run(s.c, 5000, 11, 'lost');
    expect(s.actions).to.deep.equal([[15_000, 'restart']], 'lost at 5 s, limit 10 s');
    expect(s.c.lastAction?.reason).to.match(/heartbeat lost for 10 s \(limit 10 s\)/);
    expect(s.c.graceUntil, 'the restarted guest has its boot grace').to.equal(35_000);
    s = run(s.c, 16_000, 19, 'lost');
    expect(s.actions, 'silent while it boots (the grace): not a loss').to.deep.equal([]);
    s = run(s.c, 35_000, 11, 'ok');
    expect(s.c.graceUntil, 'it answered: the grace ends').to.equal(null);
    s = run(s.c, 46_000, 2, 'ok');
    s = run(s.c, 48_000, 11, 'lost');
    expect(s.actions).to.deep.equal([[58_000, 'relocate']]);
    expect({ restarts: s.c.restarts, relocations: s.c.relocations }).to.deep.equal({ restarts: 1, relocations: 1 });
    s = run(s.c, 59_000, 2, 'ok');
    s = run(s.c, 61_000, 30, 'lost');
    expect(s.actions).to.deep.equal([[71_000, 'give-up']]);
    expect(s.c.givenUp).to.equal(true);
    expect(run(s.c, 91_000, 60, 'lost').actions, 'given up: nothing more').to.deep.equal([]);
  });

  it('a guest that never answers after its restart (a hang in the boot) is judged once the boot grace is over', () => {
    let s = run(FRESH_COUNTERS, 0, 1, 'ok');
    s = run(s.c, 1000, 11, 'lost');
    expect(s.actions).to.deep.equal([[11_000, 'restart']]);
    s = run(s.c, 12_000, 30, 'lost');
    expect(s.actions, 'grace until 31 s, then 10 s of loss').to.deep.equal([[41_000, 'relocate']]);
  });

  it('a short loss that recovers before the limit does nothing and starts the count again', () => {
    let s = run(FRESH_COUNTERS, 0, 1, 'ok');
    s = run(s.c, 1000, 9, 'lost');
    s = run(s.c, 10_000, 1, 'ok');
    s = run(s.c, 11_000, 9, 'lost');
    expect(s.actions).to.deep.equal([]);
  });

  it('holds while the host lacks quorum or its peer (no action, the loss keeps counting), and acts at once when healthy again', () => {
    let s = run(FRESH_COUNTERS, 0, 1, 'ok');
    s = run(s.c, 1000, 30, 'lost', { hostHealthy: false });
    expect(s.actions).to.deep.equal([]);
    expect(s.holding).to.match(/quorum/);
    s = run(s.c, 31_000, 1, 'lost');
    expect(s.actions).to.deep.equal([[31_000, 'restart']]);
  });

  it('a relocation waits for an in-sync peer (held, said why); MaxRestart 0 relocates at once; MaxRelocate 0 gives up after the restarts', () => {
    const worn: HealthCounters = { ...FRESH_COUNTERS, armed: true, restarts: 1 };
    const held = run(worn, 0, 20, 'lost', { peerCanTake: false });
    expect(held.actions).to.deep.equal([]);
    expect(held.holding).to.match(/in-sync replica/);
    expect(run({ ...FRESH_COUNTERS, armed: true }, 0, 11, 'lost', {}, { ...P, maxRestart: 0 }).actions).to.deep.equal([[10_000, 'relocate']]);
    expect(run(worn, 0, 11, 'lost', {}, { ...P, maxRelocate: 0 }).actions).to.deep.equal([[10_000, 'give-up']]);
  });

  it('counts start again after HealthyResetSeconds answering without a break (not before); given up is lifted too', () => {
    const worn: HealthCounters = { ...FRESH_COUNTERS, armed: true, restarts: 1, relocations: 1, givenUp: true };
    expect(run(worn, 0, 60, 'ok').c.restarts, '59 s of health: not yet').to.equal(1);
    const r = run(worn, 0, 61, 'ok');
    expect({ restarts: r.c.restarts, relocations: r.c.relocations, givenUp: r.c.givenUp }).to.deep.equal({ restarts: 0, relocations: 0, givenUp: false });
    const broken = run(run(worn, 0, 50, 'ok').c, 50_000, 1, 'lost');
    expect(run(broken.c, 51_000, 50, 'ok').c.restarts, 'a break starts the healthy period again').to.equal(1);
  });

  it('a VM that does not run here (stopped by hand, moved, not owned) is not judged and its loss is forgotten; null = not watched', () => {
    let s = run(FRESH_COUNTERS, 0, 1, 'ok');
    s = run(s.c, 1000, 8, 'lost');
    s = run(s.c, 9000, 5, 'lost', { runsHere: false });
    expect(s.c).to.include({ lostSince: null, armed: false });
    expect(s.actions).to.deep.equal([]);
    const off = { ...P, heartbeatLossMs: null };
    expect(run(run(FRESH_COUNTERS, 0, 1, 'ok', {}, off).c, 1000, 600, 'lost', {}, off).actions).to.deep.equal([]);
  });

  it('the policy: defaults 60 / 1 / 1 / 3600; a module field overrides the Defaults field; null HeartbeatLossSeconds is kept', () => {
    expect(resolveHealthPolicy(undefined, undefined)).to.deep.equal({ heartbeatLossSeconds: 60, maxRestart: 1, maxRelocate: 1, healthyResetSeconds: 3600 });
    expect(resolveHealthPolicy({ MaxRestart: 3 }, { MaxRestart: 2, MaxRelocate: 0, HeartbeatLossSeconds: 30 })).to.deep.equal({ heartbeatLossSeconds: 30, maxRestart: 3, maxRelocate: 0, healthyResetSeconds: 3600 });
    expect(resolveHealthPolicy({ HeartbeatLossSeconds: null }, { HeartbeatLossSeconds: 30 }).heartbeatLossSeconds).to.equal(null);
  });
});
