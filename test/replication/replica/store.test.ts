import { expect } from 'chai';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LOCAL_MODULE, ReplicaStore, STATE_FOLDER, replicateLocal, verifyFiles } from '../../../src/replication';
import { resetReplica } from '../../../src/replication/replica/reset';
import { seeded } from '../../helpers/seed';
import { tempDir } from '../../helpers/tmp';
import { asChunks, validStream } from '../stream-tools';

function randomBuffer(rand: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

async function refusal(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code ?? (err as Error).message;
  }
  return undefined;
}

describe('replication/replica/store', () => {
  it('keeps a committed journal whose apply failed until it is applied, even when the open store receives again', async () => {
    const { rand } = seeded('store-failed-apply-then-receive');
    const { dir, cleanup } = await tempDir();
    try {
      const B = 4096;
      const a = join(dir, 'a.raw');
      const b = join(dir, 'b.raw');
      const rep = join(dir, 'replica');
      await writeFile(a, randomBuffer(rand, 12 * B));
      await writeFile(b, randomBuffer(rand, 5 * B));
      await replicateLocal({ sources: [a, b], toDir: rep, blockSize: B });
      // Next generation: a shrinks (its replica loses its tail when applying starts), b changes.
      await writeFile(a, randomBuffer(rand, 7 * B + 10));
      await writeFile(b, randomBuffer(rand, 5 * B));
      const sources = [
        { name: 'a.raw', path: a },
        { name: 'b.raw', path: b },
      ];
      // b's replica path cannot be opened (a folder appears there once the store is open: open
      // itself refuses a folder at a replica path), so applying fails after a was resized.
      const broken = await ReplicaStore.open({
        stateDir: join(rep, STATE_FOLDER),
        module: LOCAL_MODULE,
        targets: [
          { name: 'a.raw', path: join(rep, 'a.raw'), maxBytes: 1 << 20 },
          { name: 'b.raw', path: join(dir, 'folder'), maxBytes: 1 << 20 },
        ],
      });
      await mkdir(join(dir, 'folder'));
      try {
        const s1 = await validStream(broken, sources);
        expect(await refusal(broken.receive(asChunks(s1.bytes, 1000), { expectedStreamId: s1.streamId }))).to.equal('IO_ERROR');
        // The same open store is handed another stream, which it refuses: the committed journal must survive.
        const s2 = await validStream(broken, sources);
        expect(await refusal(broken.receive(asChunks(s2.bytes, 1000), { expectedStreamId: 'f'.repeat(32) }))).to.not.equal(undefined);
      } finally {
        await broken.close();
      }
      // With the configuration repaired, opening completes the committed generation.
      const store = await ReplicaStore.open({ stateDir: join(rep, STATE_FOLDER), module: LOCAL_MODULE, targets: sources.map((s) => ({ name: s.name, path: join(rep, s.name), maxBytes: 1 << 20 })) });
      const generation = store.state().Generation;
      await store.close();
      expect(generation).to.equal(2);
      const v = await verifyFiles(sources.map((s) => ({ name: s.name, source: s.path, replica: join(rep, s.name) })), { blockSize: B, mode: 'raw' });
      expect(v.files.map((f) => `${f.name}: ${f.reason}`)).to.deep.equal(['a.raw: equal', 'b.raw: equal']);
    } finally {
      await cleanup();
    }
  });

  for (const damage of ['flipped', 'truncated', 'missing'] as const) {
    it(`refuses to open with REPLICA_INVALID when the committed journal is ${damage}`, async () => {
      const { rand } = seeded(`store-damaged-journal-${damage}`);
      const { dir, cleanup } = await tempDir();
      try {
        const B = 4096;
        const a = join(dir, 'a.raw');
        const rep = join(dir, 'replica');
        await writeFile(a, randomBuffer(rand, 6 * B));
        await replicateLocal({ sources: [a], toDir: rep, blockSize: B });
        await writeFile(a, randomBuffer(rand, 6 * B));
        // Applying fails (the replica path is a folder), so the committed journal stays behind.
        const targets = (path: string): Array<{ name: string; path: string; maxBytes: number }> => [{ name: 'a.raw', path, maxBytes: 1 << 20 }];
        const broken = await ReplicaStore.open({ stateDir: join(rep, STATE_FOLDER), module: LOCAL_MODULE, targets: targets(join(dir, 'folder')) });
        await mkdir(join(dir, 'folder'));
        try {
          const s1 = await validStream(broken, [{ name: 'a.raw', path: a }]);
          expect(await refusal(broken.receive(asChunks(s1.bytes), { expectedStreamId: s1.streamId }))).to.not.equal(undefined);
        } finally {
          await broken.close();
        }
        const journal = join(rep, STATE_FOLDER, 'journal.data');
        const bytes = await readFile(journal);
        if (damage === 'flipped') bytes[bytes.length >> 1] ^= 0xff;
        if (damage === 'missing') await rm(journal);
        else await writeFile(journal, damage === 'truncated' ? bytes.subarray(0, bytes.length >> 1) : bytes);
        expect(await refusal(ReplicaStore.open({ stateDir: join(rep, STATE_FOLDER), module: LOCAL_MODULE, targets: targets(join(rep, 'a.raw')) }))).to.equal('REPLICA_INVALID');
      } finally {
        await cleanup();
      }
    });
  }

  it('keeps the block size of a committed first generation when it is reopened without one', async () => {
    const { rand } = seeded('store-first-commit-block-size');
    const { dir, cleanup } = await tempDir();
    try {
      const a = join(dir, 'a.raw');
      const rep = join(dir, 'replica');
      await writeFile(a, randomBuffer(rand, 40 * 4096 + 3));
      // The first seed, in 4 KiB blocks, is committed but not applied (the replica path is a folder).
      const broken = await ReplicaStore.open({ stateDir: join(rep, STATE_FOLDER), module: LOCAL_MODULE, targets: [{ name: 'a.raw', path: join(dir, 'folder'), maxBytes: 1 << 20 }], blockSize: 4096 });
      await mkdir(join(dir, 'folder'));
      try {
        const s1 = await validStream(broken, [{ name: 'a.raw', path: a }]);
        expect(await refusal(broken.receive(asChunks(s1.bytes), { expectedStreamId: s1.streamId }))).to.not.equal(undefined);
      } finally {
        await broken.close();
      }
      // Later runs name no block size: the replica goes on in the 4 KiB blocks it was committed with.
      await writeFile(a, randomBuffer(rand, 40 * 4096 + 3));
      const r = await replicateLocal({ sources: [a], toDir: rep });
      expect([r.recovery.action, r.generation, r.blockSize]).to.deep.equal(['reapplied-journal', 2, 4096]);
      const again = await replicateLocal({ sources: [a], toDir: rep });
      expect([again.generation, again.blocksChanged]).to.deep.equal([3, 0]);
      const v = await verifyFiles([{ name: 'a.raw', source: a, replica: join(rep, 'a.raw') }], { blockSize: 4096, mode: 'raw' });
      expect(v.equal).to.equal(true);
    } finally {
      await cleanup();
    }
  });

  it('keeps the block size of manifests built by adopting a replica before its first generation', async () => {
    const { rand } = seeded('store-adopted-block-size');
    const { dir, cleanup } = await tempDir();
    try {
      const a = join(dir, 'a.raw');
      const rep = join(dir, 'replica');
      const content = randomBuffer(rand, 40 * 4096 + 3);
      await writeFile(a, content);
      await mkdir(rep);
      await writeFile(join(rep, 'a.raw'), content.subarray(0, 30 * 4096));
      // The copy is adopted (hashed in 4 KiB blocks), then the cycle fails: the source is no VHDX.
      expect(await refusal(replicateLocal({ sources: [a], toDir: rep, blockSize: 4096, mode: 'vhdx' }))).to.not.equal(undefined);
      const r = await replicateLocal({ sources: [a], toDir: rep });
      expect([r.generation, r.blockSize]).to.deep.equal([1, 4096]);
      const again = await replicateLocal({ sources: [a], toDir: rep });
      expect([again.generation, again.blocksChanged]).to.deep.equal([2, 0]);
      const v = await verifyFiles([{ name: 'a.raw', source: a, replica: join(rep, 'a.raw') }], { blockSize: 4096, mode: 'raw' });
      expect(v.equal).to.equal(true);
    } finally {
      await cleanup();
    }
  });

  it('refuses to apply into a damaged manifest instead of recreating it empty, and reset gets out', async () => {
    const B = 4096;
    const { rand } = seeded('store-damaged-manifest-apply');
    const { dir, cleanup } = await tempDir();
    try {
      const a = join(dir, 'a.raw');
      const rep = join(dir, 'replica');
      await writeFile(a, randomBuffer(rand, 9 * B));
      await replicateLocal({ sources: [a], toDir: rep, blockSize: B });
      await writeFile(a, randomBuffer(rand, 9 * B));
      // A committed journal whose apply failed (a folder appeared at the replica path).
      const targets = (path: string): Array<{ name: string; path: string; maxBytes: number }> => [{ name: 'a.raw', path, maxBytes: 1 << 20 }];
      const broken = await ReplicaStore.open({ stateDir: join(rep, STATE_FOLDER), module: LOCAL_MODULE, targets: targets(join(dir, 'folder')) });
      await mkdir(join(dir, 'folder'));
      try {
        const s1 = await validStream(broken, [{ name: 'a.raw', path: a }]);
        expect(await refusal(broken.receive(asChunks(s1.bytes), { expectedStreamId: s1.streamId }))).to.equal('IO_ERROR');
      } finally {
        await broken.close();
      }
      const manifest = join(rep, STATE_FOLDER, 'manifests', 'a.raw.manifest');
      const damaged = (await readFile(manifest)).subarray(0, 40);
      await writeFile(manifest, damaged);
      // Re-applying on open meets the damaged manifest: an error, and the manifest is left as it is.
      expect(await refusal(ReplicaStore.open({ stateDir: join(rep, STATE_FOLDER), module: LOCAL_MODULE, targets: targets(join(rep, 'a.raw')) }))).to.equal('REPLICA_INVALID');
      expect((await readFile(manifest)).equals(damaged), 'not recreated').to.equal(true);
      await resetReplica({ stateDir: join(rep, STATE_FOLDER), module: LOCAL_MODULE, targets: targets(join(rep, 'a.raw')) });
      await replicateLocal({ sources: [a], toDir: rep });
      const v = await verifyFiles([{ name: 'a.raw', source: a, replica: join(rep, 'a.raw') }], { blockSize: B, mode: 'raw' });
      expect(v.equal).to.equal(true);
    } finally {
      await cleanup();
    }
  });
});
