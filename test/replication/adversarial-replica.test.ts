import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { appendFile, mkdir, open, readFile, readdir, rename, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LOCAL_MODULE, ReplicaStore, STATE_FOLDER, createDelta, replicateLocal } from '../../src/replication';
import { vmmirror } from '../cli/vmmirror-process';
import { errorCode as code, seededBytes } from '../helpers/outcomes';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';

// An adversarial review of the replica side (issue 7 items 1-4, 15): each case is a way an unlucky
// administrator or a local user could break a replica folder that the first hardening missed.
// Every outcome must be a replica equal to its source, or a clear coded error with a way out.

const KiB = 1024;

describe('replication: adversarial replica folder', function () {
  this.timeout(120_000);

  it('a FIFO planted at the lock path is refused (REPLICA_UNSAFE_PATH), not waited on forever', async () => {
    const { rand, seed } = seeded('adversarial-replica-fifo');
    console.log(`seed ${seed}`);
    const { dir, cleanup } = await tempDir();
    try {
      const src = join(dir, 'a.raw');
      const rep = join(dir, 'rep');
      await writeFile(src, seededBytes(rand, 256 * KiB));
      await replicateLocal({ sources: [src], toDir: rep });
      // An open(O_RDONLY) of a FIFO blocks until a writer comes: it must never be opened as one.
      execFileSync('mkfifo', [join(rep, STATE_FOLDER, 'lock')]);
      expect(await code(replicateLocal({ sources: [src], toDir: rep }))).to.equal('REPLICA_UNSAFE_PATH');
    } finally {
      await cleanup();
    }
  });

  it('a state.json grown to 1 GiB (sparse) is REPLICA_INVALID naming reset, read without loading it', async () => {
    const { rand, seed } = seeded('adversarial-replica-huge-state');
    console.log(`seed ${seed}`);
    const { dir, cleanup } = await tempDir();
    try {
      const src = join(dir, 'a.raw');
      const rep = join(dir, 'rep');
      await writeFile(src, seededBytes(rand, 256 * KiB));
      await replicateLocal({ sources: [src], toDir: rep });
      const fh = await open(join(rep, STATE_FOLDER, 'state.json'), 'r+');
      await fh.truncate(1024 * 1024 * 1024);
      await fh.close();
      let err: { code?: string; message: string } | undefined;
      await replicateLocal({ sources: [src], toDir: rep }).catch((e: { code?: string; message: string }) => (err = e));
      expect(err?.code, err?.message).to.equal('REPLICA_INVALID');
      expect(err?.message).to.contain('vmmirror replica reset');
      const r = await vmmirror(['replica', 'reset', rep, '--json']);
      expect(r.exitCode, r.stderr).to.equal(0);
      const next = await replicateLocal({ sources: [src], toDir: rep });
      expect(next.blocksChanged, 'reset kept the replica file: nothing to send').to.equal(0);
      expect((await readFile(join(rep, 'a.raw'))).equals(await readFile(src))).to.equal(true);
    } finally {
      await cleanup();
    }
  });

  it('reset of a folder with a committed, intact journal applies it first: the replica is N+1, not torn', async () => {
    const { rand, seed } = seeded('adversarial-replica-reset-committed');
    console.log(`seed ${seed}`);
    const { dir, cleanup } = await tempDir();
    try {
      const src = join(dir, 'a.raw');
      const rep = join(dir, 'rep');
      await writeFile(src, seededBytes(rand, 1024 * KiB));
      await replicateLocal({ sources: [src], toDir: rep });
      // N+1 rewrites every block, so a replica left partly applied differs from both N and N+1.
      const next = seededBytes(rand, 1024 * KiB);
      await writeFile(src, next);
      const crashed = await vmmirror(['replicate', src, '--to', rep, '--json'], { VMMIRROR_CRASHPOINT: 'apply-block:3' });
      expect(crashed.exitCode, 'the apply was killed').to.not.equal(0);
      // The primary (and so the only other copy of N+1) is now lost: the journal is the only copy.
      await writeFile(src, Buffer.alloc(0));
      const r = await vmmirror(['replica', 'reset', rep, '--json']);
      expect(r.exitCode, r.stdout + r.stderr).to.equal(0);
      expect((await readFile(join(rep, 'a.raw'))).equals(next), 'the replica holds N+1 byte for byte').to.equal(true);
    } finally {
      await cleanup();
    }
  });

  for (const edit of ['extended', 'truncated'] as const) {
    it(`a manifest ${edit} by hand is REPLICA_INVALID naming reset, and reset gets out`, async () => {
      const { rand, seed } = seeded(`adversarial-replica-manifest-${edit}`);
      console.log(`seed ${seed}`);
      const { dir, cleanup } = await tempDir();
      try {
        const src = join(dir, 'a.raw');
        const rep = join(dir, 'rep');
        await writeFile(src, seededBytes(rand, 512 * KiB));
        await replicateLocal({ sources: [src], toDir: rep });
        const m = join(rep, STATE_FOLDER, 'manifests', 'a.raw.manifest');
        if (edit === 'extended') await appendFile(m, seededBytes(rand, 100));
        else await truncate(m, (await stat(m)).size - 50);
        let err: { code?: string; message: string } | undefined;
        await replicateLocal({ sources: [src], toDir: rep }).catch((e: { code?: string; message: string }) => (err = e));
        expect(err?.code, err?.message).to.equal('REPLICA_INVALID');
        expect(err?.message, 'the message names the way out').to.contain('vmmirror replica reset');
        const r = await vmmirror(['replica', 'reset', rep, '--json']);
        expect(r.exitCode, r.stderr).to.equal(0);
        const next = await replicateLocal({ sources: [src], toDir: rep });
        expect(next.blocksChanged).to.equal(0);
        expect((await readFile(join(rep, 'a.raw'))).equals(await readFile(src))).to.equal(true);
      } finally {
        await cleanup();
      }
    });
  }

  // The state folder swapped for a link to a folder outside while a store is open (after every
  // check of open): at the start of the cycle, and in the middle of receiving its stream.
  for (const when of ['before the cycle', 'while the stream is received'] as const) {
    it(`the state folder replaced by a link ${when} is REPLICA_UNSAFE_PATH; nothing is committed outside`, async () => {
      const { rand, seed } = seeded(`adversarial-replica-swap-${when}`);
      console.log(`seed ${seed}`);
      const { dir, cleanup } = await tempDir();
      try {
        const src = join(dir, 'a.raw');
        const rep = join(dir, 'rep');
        const stateDir = join(rep, STATE_FOLDER);
        const outside = join(dir, 'outside');
        await mkdir(join(outside, 'manifests'), { recursive: true });
        const first = seededBytes(rand, 1024 * KiB);
        await writeFile(src, first);
        await replicateLocal({ sources: [src], toDir: rep });
        await writeFile(src, seededBytes(rand, 1024 * KiB));
        const swap = async (): Promise<void> => {
          await rename(stateDir, `${stateDir}.real`);
          await symlink(outside, stateDir);
        };
        const store = await ReplicaStore.open({ stateDir, module: LOCAL_MODULE, targets: [{ name: 'a.raw', path: join(rep, 'a.raw'), maxBytes: Number.MAX_SAFE_INTEGER }] });
        let result: string | undefined;
        try {
          const manifest = await store.openManifest('a.raw');
          const streamId = 'ab'.repeat(16);
          const { stream } = await createDelta({
            module: LOCAL_MODULE,
            streamId,
            blockSize: store.blockSize,
            sources: [{ name: 'a.raw', path: src, mode: 'auto' }],
            replica: { generation: store.state().Generation, manifests: new Map([['a.raw', manifest]]) },
          });
          async function* swapping(): AsyncGenerator<Uint8Array> {
            let n = 0;
            for await (const chunk of stream) {
              if (++n === 3) await swap();
              yield chunk;
            }
          }
          if (when === 'before the cycle') await swap();
          result = await code(store.receive(when === 'before the cycle' ? stream : swapping(), { expectedStreamId: streamId }));
          await manifest?.close();
        } finally {
          await store.close();
        }
        expect(result).to.equal('REPLICA_UNSAFE_PATH');
        const leaked = (await readdir(outside, { recursive: true })).filter((n) => n !== 'manifests');
        expect(leaked, 'nothing of the cycle landed outside the replica folder').to.deep.equal([]);
        expect((await readFile(join(rep, 'a.raw'))).equals(first), 'the replica stays on N').to.equal(true);
      } finally {
        await cleanup();
      }
    });
  }
});
