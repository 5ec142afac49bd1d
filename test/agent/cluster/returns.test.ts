import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { recordReturn, returnsWithin } from '../../../src/agent/cluster/returns';
import { tempDir } from '../../helpers/tmp';

describe('src/agent/cluster/returns (flap damping of failbacks)', () => {
  it('counts a host\'s returns in the window, one per minute at most (several modules resynced together are one return)', async () => {
    const t = await tempDir('vmmirror-returns-');
    try {
      const t0 = Date.parse('2026-12-01T10:00:00Z');
      expect(await returnsWithin(t.dir, 60, new Date(t0))).to.equal(0);
      await recordReturn(t.dir, new Date(t0));
      await recordReturn(t.dir, new Date(t0 + 5_000)); // a second module of the same return
      await recordReturn(t.dir, new Date(t0 + 20 * 60_000));
      await recordReturn(t.dir, new Date(t0 + 50 * 60_000));
      expect(await returnsWithin(t.dir, 60, new Date(t0 + 55 * 60_000))).to.equal(3);
      expect(await returnsWithin(t.dir, 60, new Date(t0 + 75 * 60_000)), 'the first fell out of the window').to.equal(2);
    } finally {
      await t.cleanup();
    }
  });

  it('records several modules returning at once as one return, with no write racing another', async () => {
    const t = await tempDir('vmmirror-returns-');
    try {
      const at = new Date('2026-12-01T10:00:00Z');
      await Promise.all([0, 1, 2, 3].map((i) => recordReturn(t.dir, new Date(at.getTime() + i))));
      expect(await returnsWithin(t.dir, 60, new Date(at.getTime() + 1000))).to.equal(1);
    } finally {
      await t.cleanup();
    }
  });

  it('reads a damaged history as "came back often" (damping holds), never as none', async () => {
    const t = await tempDir('vmmirror-returns-');
    try {
      await writeFile(join(t.dir, 'returns.json'), '{"Version":1,"Returns":[');
      expect(await returnsWithin(t.dir, 60)).to.be.greaterThan(100);
    } finally {
      await t.cleanup();
    }
  });
});
