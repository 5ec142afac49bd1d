import { expect } from 'chai';
import { BlockSet } from '../../../src/replication/source/block-set';
import { seeded } from '../../helpers/seed';

describe('replication/source/block-set', () => {
  it('yields the same merged, ascending runs as a plain boolean array, clipped to the file', () => {
    const { int, seed } = seeded('block-set');
    for (let round = 0; round < 50; round++) {
      const count = int(1, 300);
      const set = new BlockSet(count);
      const naive = new Array<boolean>(count).fill(false);
      for (let k = int(0, 40); k > 0; k--) {
        const s = int(-5, count + 5);
        const e = s + int(0, 30);
        set.addRun(s, e);
        for (let i = Math.max(0, s); i < Math.min(e, count); i++) naive[i] = true;
      }
      const expected: Array<[number, number]> = [];
      naive.forEach((on, i) => {
        const last = expected[expected.length - 1];
        if (on && last !== undefined && last[1] === i) last[1] = i + 1;
        else if (on) expected.push([i, i + 1]);
      });
      expect([...set.runs()], `round ${round} (seed ${seed})`).to.deep.equal(expected);
      for (let i = 0; i < count; i++) expect(set.has(i)).to.equal(naive[i]);
    }
  });

  it('maps byte extents to the blocks that hold them', () => {
    const set = new BlockSet(10);
    set.addExtent(4095, 2, 4096); // straddles blocks 0 and 1
    set.addExtent(5 * 4096, 0, 4096); // empty: nothing
    set.addExtent(9 * 4096 + 1, 100_000, 4096); // past the end: clipped
    expect([...set.runs()]).to.deep.equal([[0, 2], [9, 10]]);
  });
});
