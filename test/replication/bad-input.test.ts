import { expect } from 'chai';
import { copyFile, mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasCode, type ErrorCode } from '../../src/errors';
import { run } from '../../src/util/exec';
import { ManifestFile, replicateLocal, type ReplicaStore } from '../../src/replication';
import { BLOCK_PREFIX_BYTES, FRAME_HEADER_BYTES } from '../../src/replication/stream/format';
import { snapshotTree } from '../helpers/files';
import { createVhdx, qemuWrites } from '../helpers/qemu';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';
import { asChunks, editFirstBlock, editHeader, openLocalStore, splitFrames, validStream } from './stream-tools';

const MiB = 1 << 20;

async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  try {
    await p;
  } catch (err) {
    expect(hasCode(err, code), `expected ${code}, got ${(err as { code?: string }).code}: ${(err as Error).message}`).to.equal(true);
    return;
  }
  expect.fail(`expected ${code}, but it succeeded`);
}

describe('replication/replica/store (bad input)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let src: string;
  let rep: string;
  let store: ReplicaStore;
  const sources = (): Array<{ name: string; path: string }> => [{ name: 'disk.vhdx', path: src }];

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    src = join(dir, 'source', 'disk.vhdx');
    rep = join(dir, 'replica');
    await mkdir(join(dir, 'source'));
    await createVhdx(src, { sizeBytes: 32 * MiB, subformat: 'dynamic', blockSizeBytes: MiB });
    await qemuWrites(src, [{ offset: 3 * MiB, length: 2 * MiB, pattern: 0x31 }]);
    await replicateLocal({ sources: [src], toDir: rep });
    await qemuWrites(src, [{ offset: 9 * MiB + 512, length: 70_000, pattern: 0x32 }]);
    store = await openLocalStore(rep, sources());
  });
  afterEach(async () => {
    await store.close();
    await cleanup();
  });

  // Every refusal leaves the replica folder exactly as it was and writes nothing anywhere else.
  async function refuses(bytes: Buffer, code: ErrorCode, options: { expectedStreamId?: string } = {}): Promise<void> {
    const before = await snapshotTree(dir);
    await expectCode(store.receive(asChunks(bytes), options), code);
    const after = await snapshotTree(dir);
    expect([...after.entries()].filter(([k]) => !k.endsWith('lock'))).to.deep.equal([...before.entries()].filter(([k]) => !k.endsWith('lock')));
    expect(store.state().Generation).to.equal(1);
  }

  it('refuses a stream truncated anywhere, at a frame boundary or inside a frame', async () => {
    const { rand, seed } = seeded('truncated');
    const { bytes } = await validStream(store, sources());
    for (const cut of [0, 5, FRAME_HEADER_BYTES + 3, ...Array.from({ length: 4 }, () => 1 + Math.floor(rand() * (bytes.length - 2)))]) {
      await refuses(bytes.subarray(0, cut), 'STREAM_TRUNCATED').catch((e: Error) => {
        throw new Error(`cut at ${cut} (seed ${seed}): ${e.message}`);
      });
    }
  });

  it('refuses data after the trailer (the stream is read to its end)', async () => {
    const { bytes } = await validStream(store, sources());
    await refuses(Buffer.concat([bytes, splitFrames(bytes)[0].bytes]), 'STREAM_INVALID');
    await refuses(Buffer.concat([bytes, bytes.subarray(0, 5)]), 'STREAM_TRUNCATED');
  });

  it('refuses a block whose bytes were flipped in transit', async () => {
    const { bytes } = await validStream(store, sources());
    const bad = editFirstBlock(bytes, (f) => {
      f[FRAME_HEADER_BYTES + BLOCK_PREFIX_BYTES + 100] ^= 0x04;
      return f;
    });
    await refuses(bad, 'STREAM_CHECKSUM');
  });

  it('refuses a frame whose offset lies outside the file', async () => {
    const { bytes } = await validStream(store, sources());
    const bad = editFirstBlock(bytes, (f) => {
      f.writeBigUInt64LE(BigInt(1024 * MiB), FRAME_HEADER_BYTES + 8);
      return f;
    });
    await refuses(bad, 'STREAM_OUT_OF_RANGE');
  });

  it('refuses a frame longer than a block', async () => {
    const { bytes } = await validStream(store, sources());
    const bad = editFirstBlock(bytes, (f) => {
      f.writeUInt32BE(BLOCK_PREFIX_BYTES + 2 * MiB, 4);
      return f;
    });
    await refuses(bad, 'STREAM_OUT_OF_RANGE');
  });

  it('refuses a stream for another module, another file set or a size above the configured maximum', async () => {
    const { bytes } = await validStream(store, sources());
    await refuses(editHeader(bytes, (h) => (h.Module = 'other-vm')), 'STREAM_WRONG_TARGET');
    await refuses(editHeader(bytes, (h) => ((h.Files as Array<{ Name: string }>)[0].Name = 'evil.vhdx')), 'STREAM_WRONG_TARGET');
    await refuses(editHeader(bytes, (h) => ((h.Files as Array<{ Name: string }>)[0].Name = '../../etc/passwd')), 'STREAM_INVALID');
    await store.close();
    store = await openLocalStore(rep, sources(), 8 * MiB);
    await refuses(bytes, 'STREAM_OUT_OF_RANGE');
  });

  it('refuses a stream for another generation and a replayed stream', async () => {
    const { bytes, streamId } = await validStream(store, sources());
    await refuses(editHeader(bytes, (h) => ((h.FromGeneration = 7), (h.ToGeneration = 8))), 'STREAM_WRONG_GENERATION');
    await refuses(bytes, 'STREAM_REPLAYED', { expectedStreamId: 'f'.repeat(32) });

    await store.receive(asChunks(bytes), { expectedStreamId: streamId });
    const afterApply = await snapshotTree(dir);
    await expectCode(store.receive(asChunks(bytes)), 'STREAM_REPLAYED');
    await expectCode(store.receive(asChunks(editHeader(bytes, (h) => (h.StreamId = 'a'.repeat(32))))), 'STREAM_WRONG_GENERATION');

    expect(store.state().Generation).to.equal(2);
    expect(await snapshotTree(dir)).to.deep.equal(afterApply);
  });

  it('refuses a sender whose view of the replica is stale (manifest digest mismatch)', async () => {
    // P believes S already holds the newest source (a manifest from an up-to-date replica), so it
    // would skip the changed block: S must notice that P's view is not what S holds.
    const other = join(dir, 'other-replica');
    await replicateLocal({ sources: [src], toDir: other });
    const stale = join(dir, 'stale.manifest');
    await copyFile(join(other, '.vmmirror', 'manifests', 'disk.vhdx.manifest'), stale);
    const m = await ManifestFile.open(stale, 'r');
    const { bytes } = await validStream(store, sources(), { manifests: new Map([['disk.vhdx', m]]) });
    await m.close();
    await refuses(bytes, 'MANIFEST_MISMATCH');
  });

  it('refuses a source whose VHDX header is corrupt and leaves the replica on its generation', async () => {
    await store.close();
    const fh = await open(src, 'r+');
    await fh.write(Buffer.from('garbage!'), 0, 8, 64 * 1024);
    await fh.write(Buffer.from('garbage!'), 0, 8, 128 * 1024);
    await fh.close();
    const before = await snapshotTree(rep);

    await expectCode(replicateLocal({ sources: [src], toDir: rep }), 'VHDX_INVALID');

    expect(await snapshotTree(rep)).to.deep.equal(before);
    store = await openLocalStore(rep, sources());
    expect(store.state().Generation).to.equal(1);
  });
});

describe('replication/replica/store (disk full)', function () {
  before(function () {
    if (process.getuid?.() !== 0) throw new Error('the disk-full test mounts a tmpfs and must run as root (CI does)');
  });

  it('reports DISK_FULL and keeps the previous generation when the target runs out of space', async () => {
    const { dir, cleanup } = await tempDir();
    const mnt = join(dir, 'small');
    await mkdir(mnt);
    await run('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mnt]).then((r) => {
      if (r.exitCode !== 0) throw new Error(`mount tmpfs failed: ${r.stderr}`);
    });
    try {
      const src = join(dir, 'disk.raw');
      await writeFile(src, Buffer.alloc(512 * 1024, 1));
      const rep = join(mnt, 'replica');
      await replicateLocal({ sources: [src], toDir: rep });
      const before = await readFile(join(rep, 'disk.raw'));
      await writeFile(src, Buffer.alloc(2 * MiB, 2));

      await expectCode(replicateLocal({ sources: [src], toDir: rep }), 'DISK_FULL');

      expect((await readFile(join(rep, 'disk.raw'))).equals(before)).to.equal(true);
      const store = await openLocalStore(rep, [{ name: 'disk.raw' }]);
      expect(store.state().Generation).to.equal(1);
      await store.close();
    } finally {
      await run('umount', [mnt]);
      await cleanup();
    }
  });
});
