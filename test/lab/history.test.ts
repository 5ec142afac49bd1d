import { expect } from 'chai';
import type { LoggedWrite } from '../../src/hypervisor/simulated';
import { asWriteHistory, historyOf, writesOf, type Run } from '../../src/lab/history';
import type { LabHostName } from '../../src/lab/schema';

// The chaining rule of `lab verify` on its own (pure): run k continues from run k-1's history up
// to the number it started after, wherever run k-1 ran.

function run(host: LabHostName, boot: string, first: number, last: number): Run {
  const writes: LoggedWrite[] = [];
  for (let s = first; s <= last; s++) writes.push({ seq: s, offset: s * 4096, length: 4096, kind: 'pattern', boot, mayBeTorn: s === last });
  return { host, stateDir: `/sim/${host}`, boot, firstSeq: first, lastSeq: last, writes, startedAt: null };
}

const shape = (runs: Run[], k: number) => historyOf(runs, k).map((s) => [s.run.boot, s.throughSeq === Number.MAX_SAFE_INTEGER ? 'all' : s.throughSeq]);

describe('lab verify: a VM\'s history over both hosts', () => {
  it('is one run\'s own writes when the VM never moved', () => {
    expect(shape([run('hva', 'a1', 1, 10)], 0)).to.deep.equal([['a1', 'all']]);
  });

  it('after a failover: the old runner up to the generation the replica held, then the new runner', () => {
    const runs = [run('hva', 'a1', 1, 10), run('hvb', 'b1', 8, 20)];
    expect(shape(runs, 1)).to.deep.equal([['a1', 7], ['b1', 'all']]);
    // The crashed host's own tail (8..10) is in its history, not in the current one.
    expect([...writesOf(historyOf(runs, 0), 10)].filter((w) => !writesOf(historyOf(runs, 1)).has(w))).to.deep.equal(['hva:a1:8', 'hva:a1:9', 'hva:a1:10']);
  });

  it('after a failback: the returned host\'s lost tail stays out, the peer\'s writes stay in', () => {
    const runs = [run('hva', 'a1', 1, 10), run('hvb', 'b1', 8, 20), run('hva', 'a2', 21, 30)];
    expect(shape(runs, 2)).to.deep.equal([['a1', 7], ['b1', 20], ['a2', 'all']]);
    expect(asWriteHistory(historyOf(runs, 2))).to.deep.equal([
      { stateDir: '/sim/hva', boots: ['a1'], throughSeq: 7 },
      { stateDir: '/sim/hvb', boots: ['b1'], throughSeq: 20 },
      { stateDir: '/sim/hva', boots: ['a2'] },
    ]);
    // A peer that ran briefly (fewer writes than the lost tail): the returned host numbers above its own log.
    const brief = [run('hva', 'a1', 1, 10), run('hvb', 'b1', 8, 9), run('hva', 'a2', 11, 15)];
    expect(shape(brief, 2)).to.deep.equal([['a1', 7], ['b1', 10], ['a2', 'all']]);
    expect([...writesOf(historyOf(brief, 2))].filter((w) => w.startsWith('hva:a1:')).length).to.equal(7);
  });

  it('drops what a run started below: a copy started from scratch continues nothing', () => {
    const runs = [run('hva', 'a1', 1, 10), run('hvb', 'b1', 1, 5)];
    expect(shape(runs, 1)).to.deep.equal([['b1', 'all']]);
    expect(writesOf(historyOf(runs, 1), 3).size).to.equal(3);
  });
});
