import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { freshnessEntries, freshnessPath, readFreshness, vouched } from '../../../src/agent/cluster/freshness';
import { initialSnapshot, step, type ClusterEvent, type ClusterSnapshot, type Effect } from '../../../src/cluster';
import type { FreshnessEntry } from '../../../src/cluster/cold-start';
import { DEFAULT_LEASE_TIMINGS } from '../../../src/cluster/lease';
import type { ModuleRecord } from '../../../src/cluster/record';
import type { Logger } from '../../../src/log';
import { seeded } from '../../helpers/seed';
import { tempDir } from '../../helpers/tmp';

// Adversarial review of the cold-start opt-in (Policies.ColdStartAloneSeconds), as a stranger
// would attack it: a freshness file that is damaged, hand-edited or of another epoch; both hosts
// cold-starting alone at once with no witness (the link up, staggered, cut); a wall-clock jump on
// the owner between the frozen view and the heartbeat. Two real step() machines exchange
// heartbeats over a modelled link; "running" is what each machine's effects started and did not
// fence, sampled at every step, so "both at once" cannot go unseen.

const SETTINGS = { ...DEFAULT_LEASE_TIMINGS, peerTimeoutMs: 5000, witness: false, failbackStableMs: 30000, retryMs: 500 };
const RECORD = (state: 'PRIM' | 'SECOND', owner: string): ModuleRecord => ({ Version: 1, Module: 'web', State: state, WaitReason: null, Epoch: 3, Owner: owner, Generation: 10 });

function captureLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const put = (o: unknown): void => void lines.push(o as Record<string, unknown>);
  const log = { error: put, warn: put, info: put, debug: put, child: () => log } as unknown as Logger;
  return { log, lines };
}

/** A host's machine as its agent builds it at `startedAt` (monotonic ms): its grant to the peer counts from there. */
function host(self: string, peer: string, record: ModuleRecord, freshness?: FreshnessEntry, startedAt = 0): ClusterSnapshot {
  return initialSnapshot({
    self,
    peerName: peer,
    settings: SETTINGS,
    now: startedAt,
    modules: [{ name: 'web', defaultPrimary: 'a', failback: 'manual', fenceMode: 'TurnOff', coldStartAloneMs: 60_000 }],
    records: { web: record },
    vms: {},
    freshness: freshness === undefined ? {} : { web: freshness },
  });
}

/** One host's machine, the VM activity its effects imply, and the effects it owes an outcome. */
class Machine {
  running = false;
  starts = 0;
  private owed: Effect[] = [];
  constructor(public s: ClusterSnapshot) {}
  feed(e: ClusterEvent): void {
    const r = step(this.s, e);
    this.s = r.next;
    for (const f of r.effects) {
      if (f.type === 'start-vm') (this.running = true), this.starts++;
      if (f.type === 'fence' || f.type === 'stop-vm') this.running = false;
      if (f.type === 'start-vm' || f.type === 'promote-replica' || f.type === 'fence' || f.type === 'stop-vm' || f.type === 'resync') this.owed.push(f);
    }
  }
  /** The effects finish (instantly, in order) at `now`. */
  settle(now: number): void {
    const owed = this.owed;
    this.owed = [];
    for (const f of owed) {
      const m = this.s.modules.web!;
      if (f.type === 'resync') this.feed({ type: 'effect-done', now, module: 'web', effect: 'resync', generation: m.generation, epoch: m.epoch });
      else this.feed({ type: 'effect-done', now, module: 'web', effect: f.type });
    }
  }
  view(): Record<string, { state: any; epoch: number; owner: string | null; generation: number; vm: any }> {
    const m = this.s.modules.web!;
    return { web: { state: m.state, epoch: m.epoch, owner: m.owner, generation: m.generation, vm: m.vm } };
  }
}

/**
 * Runs both machines for `untilMs` in 100 ms steps. `up(t)`: the link carries heartbeats at t;
 * `alive(host, t)`: that agent is running. Returns the first instant both VMs ran, or null.
 */
function simulate(a: Machine, b: Machine, o: { untilMs: number; up(t: number): boolean; alive(h: 'a' | 'b', t: number): boolean }): number | null {
  let both: number | null = null;
  for (let t = 0; t <= o.untilMs; t += 100) {
    for (const [m, other, name] of [[a, b, 'a'], [b, a, 'b']] as const) {
      if (!o.alive(name, t)) continue;
      const peerAlive = o.alive(name === 'a' ? 'b' : 'a', t);
      if (o.up(t) && peerAlive && t % 500 === 0) m.feed({ type: 'peer-heartbeat', now: t, path: 'primary', modules: other.view(), answer: { askedAt: t - 1, grantedMs: SETTINGS.leaseMs } });
      else m.feed({ type: 'tick', now: t });
      m.settle(t);
    }
    if (a.running && b.running && both === null) both = t;
  }
  return both;
}

describe('adversarial: the cold-start opt-in (freshness file, both hosts alone, clock jumps)', () => {
  const rng = seeded('adversarial cold start');
  before(() => void process.stderr.write(`      seed ${rng.seed}\n`));

  it('a damaged, oversized, hand-extended or wrongly typed freshness file withholds the opt-in, logged with a stable code, never a silent start', async () => {
    const t = await tempDir('vmmirror-adv-fresh-');
    try {
      const good = { Version: 1, Modules: { web: { Epoch: 3, Generation: 10, BehindMs: 0, HeardAt: '2026-12-01T10:00:00.000Z' } } };
      const bad = [
        '{"Version":1,"Modules":{"web":{"Epoch":3,"Generation":10,"BehindMs":0', // torn write
        JSON.stringify({ ...good, Version: 2 }),
        JSON.stringify({ Version: 1, Modules: { web: { ...good.Modules.web, BehindMs: -5 } } }),
        JSON.stringify({ Version: 1, Modules: { web: { ...good.Modules.web, BehindMs: '0' } } }),
        JSON.stringify({ Version: 1, Modules: { web: { ...good.Modules.web, Trusted: true } } }),
        JSON.stringify({ Version: 1, Modules: { web: { ...good.Modules.web, HeardAt: 'tomorrow' } } }),
        `${JSON.stringify(good)}${' '.repeat(1024 * 1024)}`,
        '\u0000\u0001garbage',
      ];
      for (const text of bad) {
        await writeFile(freshnessPath(t.dir), text);
        const c = captureLog();
        const r = await readFreshness(t.dir, c.log);
        expect(r, text.slice(0, 60)).to.deep.equal({});
        const line = c.lines.find((l) => l.event === 'freshness-damaged');
        expect(line, text.slice(0, 60)).to.not.equal(undefined);
        expect(line!.code, text.slice(0, 60)).to.equal('CLUSTER_STATE_INVALID');
        // And the machine built from it waits, past the instant the opt-in would act.
        const b = new Machine(host('b', 'a', RECORD('SECOND', 'a'), freshnessEntries(r).web));
        expect(simulate(new Machine(host('a', 'b', RECORD('PRIM', 'a'))), b, { untilMs: 20_000, up: () => false, alive: (h) => h === 'b' })).to.equal(null);
        expect(b.starts).to.equal(0);
        expect(b.s.modules.web!.state).to.equal('WAIT');
      }
      // The same file, whole, is read: the attack above is the damage, not the reader.
      await writeFile(freshnessPath(t.dir), JSON.stringify(good));
      expect(await readFreshness(t.dir, captureLog().log)).to.deep.equal(good.Modules);
    } finally {
      await t.cleanup();
    }
  });

  it('an entry of an older or a future epoch, or of a generation this copy never reached, says nothing: the replica waits', () => {
    for (const entry of [
      { epoch: 2, generation: 10, behindMs: 0 },
      { epoch: 4, generation: 10, behindMs: 0 }, // future-dated: an epoch this host never held
      { epoch: 3, generation: 11, behindMs: 0 },
    ]) {
      const b = new Machine(host('b', 'a', RECORD('SECOND', 'a'), entry));
      expect(simulate(new Machine(host('a', 'b', RECORD('PRIM', 'a'))), b, { untilMs: 20_000, up: () => false, alive: (h) => h === 'b' }), JSON.stringify(entry)).to.equal(null);
      expect(b.starts, JSON.stringify(entry)).to.equal(0);
    }
  });

  it('both hosts cold-start at once, opt-in, no witness, link up: exactly one runs it, whatever the stagger', () => {
    // The replica's entry is fresh (0 s behind): the strongest case for it to start too.
    const staggers = [0, 100, 2500, 4900, 5000, 5400, 6000, 9000, ...Array.from({ length: 6 }, () => rng.int(0, 12_000))];
    process.stderr.write(`      staggers ${staggers.join(', ')} ms\n`);
    for (const first of ['a', 'b'] as const) {
      for (const stagger of staggers) {
        const startOf = (h: 'a' | 'b'): number => (h === first ? 0 : stagger);
        const a = new Machine(host('a', 'b', RECORD('PRIM', 'a'), undefined, startOf('a')));
        const b = new Machine(host('b', 'a', RECORD('SECOND', 'a'), { epoch: 3, generation: 10, behindMs: 0 }, startOf('b')));
        const both = simulate(a, b, { untilMs: 30_000, up: () => true, alive: (h, t) => t >= startOf(h) });
        expect(both, `${first} first, stagger ${stagger} ms`).to.equal(null);
        expect(a.running !== b.running, `${first} first, stagger ${stagger} ms: one runs it`).to.equal(true);
      }
    }
  });

  it('the cut network (the documented risk): both run until they meet, then the newer epoch alone', () => {
    const a = new Machine(host('a', 'b', RECORD('PRIM', 'a')));
    const b = new Machine(host('b', 'a', RECORD('SECOND', 'a'), { epoch: 3, generation: 10, behindMs: 0 }));
    const both = simulate(a, b, { untilMs: 40_000, up: (t) => t >= 20_000, alive: () => true });
    expect(both, 'docs/cluster.md risk (2): both run while the link is cut').to.not.equal(null);
    expect(both!).to.be.below(20_000);
    // They met: b took epoch 4 alone, a yields and holds the replica.
    expect(a.running).to.equal(false);
    expect(b.running).to.equal(true);
    expect(b.s.modules.web!.epoch).to.equal(4);
    expect(a.s.modules.web!.owner).to.equal('b');
  });

  it("a backward jump of the owner's wall clock between the frozen view and the heartbeat makes the copy's age unknown, not 0 s", () => {
    const mine = { state: 'SECOND', epoch: 3, owner: 'a', generation: 10 };
    const view = { state: 'PRIM' as const, epoch: 3, owner: 'a', generation: 10, vm: 'running' as const, waitReason: null };
    const body = (sentAt: string, takenAt: string) => ({ sentAt, modules: [{ name: 'web', role: 'primary' as const, generation: 10, takenAt }], cluster: { modules: { web: view } } });
    // Taken at 10:00, the clock then set back an hour: sentAt - takenAt < 0 is no age at all.
    expect(vouched(mine, 'a', body('2026-12-01T09:00:30.000Z', '2026-12-01T10:00:00.000Z'), 'web')).to.equal('unknown');
    // A forward jump only makes the copy look older (it may then wait): the safe side.
    expect(vouched(mine, 'a', body('2026-12-01T11:00:30.000Z', '2026-12-01T10:00:00.000Z'), 'web')).to.equal(3_630_000);
  });

  it("a jump of this host's clock cannot reach the machine: its instants are monotonic, and one going back is refused", () => {
    const b = new Machine(host('b', 'a', RECORD('SECOND', 'a'), { epoch: 3, generation: 10, behindMs: 0 }));
    b.feed({ type: 'tick', now: 1000 });
    expect(() => b.feed({ type: 'tick', now: 500 })).to.throw(/monotonic/);
  });
});
