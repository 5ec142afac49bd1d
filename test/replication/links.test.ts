import { expect } from 'chai';
import { link, mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { STATE_FOLDER, replicateLocal, verifyFiles } from '../../src/replication';
import { errorCode as code, seededBytes } from '../helpers/outcomes';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';

// A link planted at any path vmmirror writes inside a replica folder must never make it write
// outside: each case plants a symlink or a hard link to a file outside, runs a cycle, and checks
// the cycle is refused with REPLICA_UNSAFE_PATH, the outside file is byte for byte unchanged, and
// that once the link is gone the next run converges (the replica equals its source).

const B = 4096;

// Paths inside the replica folder (the lock's temp is named by the taking process's pid: this one).
const FILE_PATHS: Array<{ label: string; rel: string }> = [
  { label: 'the replica file', rel: 'a.raw' },
  { label: 'state.json', rel: `${STATE_FOLDER}/state.json` },
  { label: 'the state temp', rel: `${STATE_FOLDER}/state.json.tmp` },
  { label: 'journal.data', rel: `${STATE_FOLDER}/journal.data` },
  { label: 'journal.commit', rel: `${STATE_FOLDER}/journal.commit` },
  { label: 'the commit temp', rel: `${STATE_FOLDER}/journal.commit.tmp` },
  { label: 'the lock', rel: `${STATE_FOLDER}/lock` },
  { label: "the lock's temp", rel: `${STATE_FOLDER}/lock.${process.pid}.tmp` },
  { label: 'the manifest', rel: `${STATE_FOLDER}/manifests/a.raw.manifest` },
  { label: "the manifest's rehash temp", rel: `${STATE_FOLDER}/manifests/a.raw.manifest.rehash` },
];

describe('replication: links at the paths vmmirror writes', function () {
  this.timeout(60_000);

  async function seededReplica(label: string): Promise<{ dir: string; src: string; rep: string; outside: string; victim: Buffer; rand: () => number; cleanup: () => Promise<void> }> {
    const { rand, seed } = seeded(`links-${label}`);
    const { dir, cleanup } = await tempDir();
    const src = join(dir, 'a.raw');
    const rep = join(dir, 'replica');
    await writeFile(src, seededBytes(rand, 10 * B + 100));
    const first = await replicateLocal({ sources: [src], toDir: rep, blockSize: B });
    expect(first.generation, `seed ${seed}`).to.equal(1);
    await mkdir(join(dir, 'outside'));
    const outside = join(dir, 'outside', 'victim');
    // Not a pid, not JSON, not a manifest: whatever vmmirror reads there is refused, not parsed.
    const victim = Buffer.concat([Buffer.from('outside file, not vmmirror\'s\n'), seededBytes(rand, 3 * B)]);
    await writeFile(outside, victim);
    return { dir, src, rep, outside, victim, rand, cleanup };
  }

  for (const p of FILE_PATHS) {
    for (const kind of ['symlink', 'hardlink'] as const) {
      it(`refuses a ${kind} at ${p.label} and leaves the file outside unchanged`, async () => {
        const r = await seededReplica(`${p.rel}-${kind}`);
        try {
          const planted = join(r.rep, p.rel);
          await rm(planted, { force: true });
          if (kind === 'symlink') await symlink(r.outside, planted);
          else await link(r.outside, planted);
          await writeFile(r.src, seededBytes(r.rand, 12 * B + 7));

          expect(await code(replicateLocal({ sources: [r.src], toDir: r.rep }))).to.equal('REPLICA_UNSAFE_PATH');
          expect((await readFile(r.outside)).equals(r.victim), 'the file outside is unchanged').to.equal(true);

          // The way out: remove the link (state it stood for is rebuilt from the replica files).
          await rm(planted);
          const next = await replicateLocal({ sources: [r.src], toDir: r.rep });
          expect(next.generation).to.be.greaterThan(0);
          const v = await verifyFiles([{ name: 'a.raw', source: r.src, replica: join(r.rep, 'a.raw') }], { blockSize: B, mode: 'raw' });
          expect(v.equal, 'the replica converges once the link is gone').to.equal(true);
          expect((await readFile(r.outside)).equals(r.victim)).to.equal(true);
        } finally {
          await r.cleanup();
        }
      });
    }
  }

  for (const folder of [STATE_FOLDER, `${STATE_FOLDER}/manifests`]) {
    it(`refuses a symlink at the folder ${folder} and writes nothing into its target`, async () => {
      const r = await seededReplica(`folder-${folder}`);
      try {
        const planted = join(r.rep, folder);
        const target = join(r.dir, 'outside');
        await rm(planted, { recursive: true, force: true });
        await symlink(target, planted);
        const before = (await readdir(target)).sort();
        expect(await code(replicateLocal({ sources: [r.src], toDir: r.rep }))).to.equal('REPLICA_UNSAFE_PATH');
        expect((await readdir(target)).sort(), 'nothing was created in the folder outside').to.deep.equal(before);
        expect((await readFile(r.outside)).equals(r.victim)).to.equal(true);
        await rm(planted);
        await replicateLocal({ sources: [r.src], toDir: r.rep });
        const v = await verifyFiles([{ name: 'a.raw', source: r.src, replica: join(r.rep, 'a.raw') }], { blockSize: B, mode: 'raw' });
        expect(v.equal).to.equal(true);
      } finally {
        await r.cleanup();
      }
    });
  }
});
