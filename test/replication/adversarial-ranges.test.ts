import { expect } from 'chai';
import { open, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { replicateLocal } from '../../src/replication';
import type { ManifestMerger } from '../../src/replication/manifest/manifest-merge';
import { candidateRuns } from '../../src/replication/source/candidates';
import { changedRangesOf, changedRangesPaths } from '../../src/replication/source/changed-ranges-file';
import { openLayout } from '../../src/replication/source/open-layout';
import { sameBytes, snapshotTree } from '../helpers/files';
import { createVhdx, qemuWrites } from '../helpers/qemu';
import { failure, seededBytes, withoutLock } from '../helpers/outcomes';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';

// Review of issue 7 item 8 from the outside: --changed-ranges files as an unlucky administrator
// makes them (ranges repeated over and over, a file regenerated while it is used, PowerShell 5.1
// encodings), beyond the malformed ones test/replication/changed-ranges.test.ts refuses.

const MiB = 1 << 20;

describe('replication (adversarial changed-ranges files)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(() => cleanup());

  it('a changed-ranges stream that repeats and overlaps ranges costs one mapping per batch, not one per copy (same runs)', async () => {
    const { seed, int } = seeded('adversarial-overlapping-ranges');
    const src = join(dir, 'vm.vhdx');
    const V = 4 * 1024 * MiB;
    await createVhdx(src, { sizeBytes: V, subformat: 'dynamic', blockSizeBytes: MiB });
    await qemuWrites(src, Array.from({ length: 8 }, (_, i) => ({ offset: (i * 300 + int(0, 200)) * MiB, length: 65536, pattern: 1 + i })));
    const layout = await openLayout(src, 'auto');
    try {
      // 200,000 ranges: the whole disk, and seeded pieces of it, in no order. Unmerged, each whole-disk
      // copy walked all 4096 BAT entries again (about 20 minutes here): the count stops it at once.
      const n = 200_000;
      const batches = Math.ceil(n / 65536);
      let mapped = 0;
      const counted = {
        ...layout,
        mapChanges: (r: Array<{ offset: number; length: number }>) => {
          mapped += r.reduce((sum, x) => sum + x.length, 0);
          if (mapped > batches * V) throw new Error(`${mapped} bytes handed to the mapping, more than ${batches} x the disk (seed ${seed})`);
          return layout.mapChanges(r);
        },
      };
      const nothingKept = { keep: 0, newCount: 0 } as unknown as ManifestMerger;
      const ranges = function* (): Generator<{ offset: number; length: number }> {
        for (let i = 0; i < n; i++) yield i % 3 === 0 ? { offset: 0, length: V } : { offset: int(0, 4000) * MiB, length: int(1, 90) * MiB };
      };
      const runs = [...(await candidateRuns(counted, 65536, nothingKept, ranges()))];
      const once = [...(await candidateRuns(layout, 65536, nothingKept, [{ offset: 0, length: V }]))];
      expect(runs, 'the same blocks as the whole disk once').to.deep.equal(once);
    } finally {
      await layout.close();
    }
  });

  it('a --changed-ranges file rewritten between its check and its use is USAGE and sends nothing (never another disk\'s ranges)', async () => {
    const { rand, seed } = seeded('adversarial-ranges-rewritten');
    const B = 65536;
    const a = join(dir, 'a.img');
    const b = join(dir, 'b.img');
    const rep = join(dir, 'replica');
    await writeFile(a, seededBytes(rand, 4 * MiB));
    await writeFile(b, seededBytes(rand, 4 * MiB));
    await replicateLocal({ sources: [a, b], toDir: rep, blockSize: B });
    // a changes in block 10, b in block 40: each listed under its own Path.
    for (const [file, block] of [[a, 10], [b, 40]] as const) {
      const fh = await open(file, 'r+');
      await fh.write(Buffer.from([0xee, 0xef]), 0, 2, block * B + Math.floor(rand() * 1000));
      await fh.close();
    }
    const rangesFile = join(dir, 'changes.json');
    const listing = (first: [string, number], second: [string, number]): string =>
      JSON.stringify([first, second].map(([Path, block]) => ({ Path, Ranges: [{ Offset: block * B, Length: B }] })));
    await writeFile(rangesFile, listing([a, 10], [b, 40]));
    // What the CLI does (src/cli/commands/replicate.ts): validate once, then read each source's entries.
    const paths = await changedRangesPaths(rangesFile);
    expect(paths).to.deep.equal([a, b]);
    // An exporter regenerates the file meanwhile, listing the disks in the other order.
    await writeFile(`${rangesFile}.tmp`, listing([b, 40], [a, 10]));
    await rename(`${rangesFile}.tmp`, rangesFile);
    const before = await snapshotTree(rep);
    const changedRanges = new Map([
      [a, changedRangesOf(rangesFile, new Set([0]))],
      [b, changedRangesOf(rangesFile, new Set([1]))],
    ]);
    const f = await failure(replicateLocal({ sources: [a, b], toDir: rep, blockSize: B, changedRanges }));
    expect(f.code, `${f.message} (seed ${seed})`).to.equal('USAGE');
    expect(f.message).to.match(/changes\.json changed while it was being read .*nothing was sent/);
    expect(withoutLock(await snapshotTree(rep)), 'the replica folder is exactly as it was').to.deep.equal(withoutLock(before));
    // Checked again, the new file is used as it is now: both replicas are right.
    const again = new Set(await changedRangesPaths(rangesFile));
    expect(again).to.deep.equal(new Set([a, b]));
    const r = await replicateLocal({ sources: [a, b], toDir: rep, blockSize: B, changedRanges: new Map([[a, changedRangesOf(rangesFile, new Set([1]))], [b, changedRangesOf(rangesFile, new Set([0]))]]) });
    expect(r.blocksChanged, `seed ${seed}`).to.equal(2);
    expect([await sameBytes(a, join(rep, 'a.img')), await sameBytes(b, join(rep, 'b.img'))]).to.deep.equal([true, true]);
  });

  it('a --changed-ranges file as Windows PowerShell 5.1 writes it: UTF-8 with a BOM is read, UTF-16 is USAGE that says so', async () => {
    const json = JSON.stringify([{ Path: join(dir, 'a.img'), Ranges: [{ Offset: 65536, Length: 4096 }] }]);
    const bom = join(dir, 'bom.json');
    await writeFile(bom, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(json, 'utf8')]));
    expect(await changedRangesPaths(bom)).to.deep.equal([join(dir, 'a.img')]);
    const got: Array<{ offset: number; length: number }> = [];
    for await (const r of changedRangesOf(bom, new Set([0]))) got.push(r);
    expect(got).to.deep.equal([{ offset: 65536, length: 4096 }]);
    const utf16 = join(dir, 'utf16.json');
    await writeFile(utf16, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(json, 'utf16le')]));
    const f = await failure(changedRangesPaths(utf16));
    expect(f.code, f.message).to.equal('USAGE');
    expect(f.message).to.match(/utf16\.json: cannot read JSON \(the file is UTF-16 .*save it as UTF-8/);
  });
});
