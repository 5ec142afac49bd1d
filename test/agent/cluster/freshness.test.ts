import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { FreshnessWriter, freshnessEntries, freshnessPath, readFreshness, vouched } from '../../../src/agent/cluster/freshness';
import { initialSnapshot, type ClusterSnapshot } from '../../../src/cluster';
import { replicaBehindMs } from '../../../src/cluster/cold-start';
import { DEFAULT_LEASE_TIMINGS } from '../../../src/cluster/lease';
import { componentLogger } from '../../../src/log';
import { tempDir } from '../../helpers/tmp';

// The cold-start opt-in's freshness record: what a heartbeat from the owner vouches for (the
// owner's sentAt - takenAt of our generation), what it does not, and that the file the agent
// writes is the one the next start reads (a damaged one only withholds the opt-in).

const log = componentLogger('test');
const SECOND = { state: 'SECOND', epoch: 3, owner: 'a', generation: 10 };
const running: { state: 'PRIM' | 'WAIT'; epoch: number; owner: string; generation: number; vm: 'running' | 'off'; waitReason: null } = { state: 'PRIM', epoch: 3, owner: 'a', generation: 10, vm: 'running', waitReason: null };
const body = (o: { generation?: number | null; takenAt?: string | null; view?: Partial<typeof running> } = {}) => ({
  sentAt: '2026-12-01T10:00:30.000Z',
  modules: [{ name: 'web', role: 'primary' as const, generation: o.generation === undefined ? 10 : o.generation, takenAt: o.takenAt === undefined ? '2026-12-01T10:00:00.000Z' : o.takenAt }],
  cluster: { modules: { web: { ...running, ...o.view } } },
});

/** The module held as SECOND (the state a cold start reaches once it hears its owner). */
function snapshot(generation: number): ClusterSnapshot {
  const s = initialSnapshot({
    self: 'b',
    peerName: 'a',
    settings: { ...DEFAULT_LEASE_TIMINGS, peerTimeoutMs: 5000, witness: false, failbackStableMs: 30000, retryMs: 500 },
    now: 0,
    modules: [{ name: 'web', defaultPrimary: 'a', failback: 'auto', fenceMode: 'TurnOff', coldStartAloneMs: 60000 }],
    records: { web: { Version: 1, Module: 'web', State: 'SECOND', WaitReason: null, Epoch: 3, Owner: 'a', Generation: generation } },
    vms: {},
  });
  return { ...s, modules: { web: { ...s.modules.web!, state: 'SECOND', waitReason: null } } };
}

describe('agent/cluster/freshness (cold-start opt-in)', () => {
  it('a heartbeat of the owner running at our epoch, naming our generation, vouches for its age on the owner clock', () => {
    expect(vouched(SECOND, 'a', body(), 'web')).to.equal(30_000);
  });

  it('vouches for nothing when the owner does not run it at our epoch, or we hold no replica', () => {
    expect(vouched(SECOND, 'a', body({ view: { vm: 'off' } }), 'web')).to.equal('nothing');
    expect(vouched(SECOND, 'a', body({ view: { epoch: 4 } }), 'web')).to.equal('nothing');
    expect(vouched(SECOND, 'a', body({ view: { state: 'WAIT' } }), 'web')).to.equal('nothing');
    expect(vouched({ ...SECOND, state: 'WAIT' }, 'a', body(), 'web')).to.equal('nothing');
    expect(vouched({ ...SECOND, owner: 'b' }, 'a', body(), 'web')).to.equal('nothing');
    // Not yet acknowledged there (between our apply and its ack), or no figure after its restart.
    expect(vouched(SECOND, 'a', body({ generation: 9 }), 'web')).to.equal('nothing');
    expect(vouched(SECOND, 'a', body({ takenAt: null }), 'web')).to.equal('nothing');
  });

  it('a generation the owner counts and we never applied makes our age unknown', () => {
    expect(vouched(SECOND, 'a', body({ generation: 11 }), 'web')).to.equal('unknown');
  });

  it('writes what the heartbeats vouch for, and the next start reads it for the epoch and generations it covers', async () => {
    const t = await tempDir('vmmirror-freshness-');
    try {
      const w = new FreshnessWriter(t.dir, 'a', ['web'], log);
      w.heard(snapshot(10), body());
      await w.drain();
      const read = freshnessEntries(await readFreshness(t.dir, log));
      expect(read).to.deep.equal({ web: { epoch: 3, generation: 10, behindMs: 30_000 } });
      expect(replicaBehindMs(read.web, { Epoch: 3, Generation: 10 })).to.equal(30_000);
      expect(replicaBehindMs(read.web, { Epoch: 3, Generation: 12 }), 'a newer generation holds at least as much').to.equal(30_000);
      expect(replicaBehindMs(read.web, { Epoch: 3, Generation: 9 }), 'an older copy than the one vouched for').to.equal(null);
      expect(replicaBehindMs(read.web, { Epoch: 4, Generation: 10 }), 'another epoch').to.equal(null);
      // Unknown removes the entry; a module without the opt-in is never written.
      const w2 = new FreshnessWriter(t.dir, 'a', ['web'], log, await readFreshness(t.dir, log));
      w2.heard(snapshot(10), body({ generation: 11 }));
      await w2.drain();
      expect(await readFreshness(t.dir, log)).to.deep.equal({});
      const none = new FreshnessWriter(t.dir, 'a', [], log);
      none.heard(snapshot(10), body());
      await none.drain();
      expect(await readFreshness(t.dir, log)).to.deep.equal({});
    } finally {
      await t.cleanup();
    }
  });

  it('a damaged or foreign file withholds the opt-in (no entries), a missing one too', async () => {
    const t = await tempDir('vmmirror-freshness-');
    try {
      expect(await readFreshness(t.dir, log)).to.deep.equal({});
      await writeFile(freshnessPath(t.dir), '{"Version":1,"Modules":{"web":{"Epoch":3');
      expect(await readFreshness(t.dir, log)).to.deep.equal({});
      await writeFile(freshnessPath(t.dir), JSON.stringify({ Version: 1, Modules: { web: { Epoch: 3, Generation: 10, BehindMs: -5, HeardAt: '2026-12-01T10:00:00.000Z' } } }));
      expect(await readFreshness(t.dir, log)).to.deep.equal({});
      expect(await readFile(freshnessPath(t.dir), 'utf8'), 'left as it was, for the operator').to.contain('-5');
    } finally {
      await t.cleanup();
    }
  });
});
