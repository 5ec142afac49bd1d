import { expect } from 'chai';
import { open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { replicateLocal, verifyFiles } from '../../src/replication';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';

// Edge cases of the local cycle found in review: what the replica holds must always equal the
// source after a successful cycle (DESIGN I2), whatever the replica folder went through before.

function randomBuffer(rand: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

async function expectEqual(pairs: Array<{ name: string; source: string; replica: string }>, blockSize: number): Promise<void> {
  const v = await verifyFiles(pairs, { blockSize, mode: 'raw' });
  expect(v.files.map((f) => `${f.name}: ${f.reason}`)).to.deep.equal(pairs.map((p) => `${p.name}: equal`));
}

describe('replication/replicate (edge cases)', () => {
  it('sends what a hand edit changed on the replica when the cycle is in change-tracking mode and the replica is rehashed', async () => {
    const { rand } = seeded('replicate-edges-rehash-changed');
    const { dir, cleanup } = await tempDir();
    try {
      const src = join(dir, 'a.raw');
      const rep = join(dir, 'replica');
      const B = 4096;
      await writeFile(src, randomBuffer(rand, 20 * B + 100));
      await replicateLocal({ sources: [src], toDir: rep, blockSize: B });
      // Someone writes into the replica behind vmmirror's back; the source does not change.
      const fh = await open(join(rep, 'a.raw'), 'r+');
      await fh.write(randomBuffer(rand, 3000), 0, 3000, 7 * B + 500);
      await fh.close();
      const r = await replicateLocal({ sources: [src], toDir: rep, rehash: true, changedRanges: new Map([[src, []]]) });
      expect(r.rehashed).to.deep.equal(['a.raw']);
      await expectEqual([{ name: 'a.raw', source: src, replica: join(rep, 'a.raw') }], B);
    } finally {
      await cleanup();
    }
  });

  it('does not trust the leftover manifest of a file that left the set and comes back', async () => {
    const { rand } = seeded('replicate-edges-leftover-manifest');
    const { dir, cleanup } = await tempDir();
    try {
      const a = join(dir, 'a.raw');
      const b = join(dir, 'b.raw');
      const rep = join(dir, 'replica');
      const B = 4096;
      await writeFile(a, randomBuffer(rand, 9 * B));
      await writeFile(b, randomBuffer(rand, 12 * B + 17));
      await replicateLocal({ sources: [a, b], toDir: rep, blockSize: B });
      await replicateLocal({ sources: [a], toDir: rep });
      // b left the set: its replica is removed, its manifest stays behind in .vmmirror/manifests.
      await rm(join(rep, 'b.raw'));
      await replicateLocal({ sources: [a, b], toDir: rep });
      await expectEqual(
        [
          { name: 'a.raw', source: a, replica: join(rep, 'a.raw') },
          { name: 'b.raw', source: b, replica: join(rep, 'b.raw') },
        ],
        B,
      );
    } finally {
      await cleanup();
    }
  });

  it('resends a raw replica file that was deleted or resized by hand', async () => {
    const { rand } = seeded('replicate-edges-raw-replica-gone');
    const { dir, cleanup } = await tempDir();
    try {
      const a = join(dir, 'a.raw');
      const rep = join(dir, 'replica');
      const B = 4096;
      await writeFile(a, randomBuffer(rand, 10 * B + 5));
      await replicateLocal({ sources: [a], toDir: rep, blockSize: B });
      await rm(join(rep, 'a.raw'));
      const r = await replicateLocal({ sources: [a], toDir: rep });
      expect(r.rehashed).to.deep.equal(['a.raw']);
      await expectEqual([{ name: 'a.raw', source: a, replica: join(rep, 'a.raw') }], B);
      const fh = await open(join(rep, 'a.raw'), 'r+');
      await fh.truncate(3 * B);
      await fh.close();
      await replicateLocal({ sources: [a], toDir: rep });
      await expectEqual([{ name: 'a.raw', source: a, replica: join(rep, 'a.raw') }], B);
    } finally {
      await cleanup();
    }
  });
});
