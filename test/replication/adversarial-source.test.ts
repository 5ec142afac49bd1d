import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, open, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { replicateLocal, verifyFiles } from '../../src/replication';
import { verifyLocal } from '../../src/replication/verify/verify-local';
import { HashPool, type HashRequest, type HashResult } from '../../src/replication/source/hash-pool';
import { sameBytes, snapshotTree } from '../helpers/files';
import { createVhdx, qemuCheck, qemuCompare, qemuWrites } from '../helpers/qemu';
import { failure, seededBytes, withoutLock } from '../helpers/outcomes';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';

// Review of issue 7 items 5 and 11 from the outside: the source's path stops naming the file that
// was opened. The fingerprint (source-fingerprint.ts) watches the OPENED file, but the hash workers
// read by path (and keep their descriptors), so a path re-pointed during a scan, or a file replaced
// between two runs that share a pool, was read from another file than the one fingerprinted.
// And item 7's read-only verify, on a replica that is itself read-only.

const MiB = 1 << 20;

/** Runs `change` once, before the scan's first read; every read waits until it is complete. */
class ChangeOnFirstRead extends HashPool {
  private changed: Promise<void> | null = null;
  constructor(private readonly change: () => Promise<void>) {
    super(2);
  }
  override async hash(req: HashRequest): Promise<HashResult> {
    this.changed ??= this.change();
    await this.changed;
    return super.hash(req);
  }
}

describe('replication (adversarial source side: re-pointed paths, kept descriptors, read-only verify)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(() => cleanup());

  const swaps: Array<{ what: string; layout: (d: string) => Promise<{ src: string; swap: () => Promise<void>; v1: string; v2: string }> }> = [
    {
      what: 'a symlink re-pointed (ln -sfn)',
      layout: async (d) => {
        const v1 = join(d, 'vm-v1.vhdx');
        const v2 = join(d, 'vm-v2.vhdx');
        const src = join(d, 'vm.vhdx');
        await symlink(v1, src);
        return { src, v1, v2, swap: async () => {
          await symlink(v2, join(d, 'vm.vhdx.new'));
          await rename(join(d, 'vm.vhdx.new'), src);
        } };
      },
    },
    {
      what: 'its folder swapped for another (mv current old; mv new current)',
      layout: async (d) => {
        await mkdir(join(d, 'current'));
        await mkdir(join(d, 'new'));
        const src = join(d, 'current', 'vm.vhdx');
        return { src, v1: src, v2: join(d, 'new', 'vm.vhdx'), swap: async () => {
          await rename(join(d, 'current'), join(d, 'old'));
          await rename(join(d, 'new'), join(d, 'current'));
        } };
      },
    },
  ];
  for (const s of swaps) {
    it(`fails with SOURCE_CHANGED when the source path is ${s.what} during the scan`, async () => {
      const { seed, int } = seeded(`adversarial-swap-${s.what}`);
      const { src, v1, v2, swap } = await s.layout(dir);
      const rep = join(dir, 'replica');
      await createVhdx(v1, { sizeBytes: 64 * MiB, subformat: 'dynamic', blockSizeBytes: MiB });
      await qemuWrites(v1, Array.from({ length: 6 }, (_, i) => ({ offset: (1 + 5 * i) * MiB + 512 * int(0, 100), length: 200_000, pattern: 1 + i })));
      await replicateLocal({ sources: [src], toDir: rep });
      // v2: the same disk later on, with blocks v1 never allocated (its BAT and data sit elsewhere).
      await copyFile(v1, v2);
      await qemuWrites(v2, Array.from({ length: 5 }, (_, i) => ({ offset: (3 + 7 * i) * MiB + 512 * int(0, 100), length: 300_000, pattern: 0x40 + i })));
      await qemuWrites(v1, [{ offset: 40 * MiB, length: 70_000, pattern: 0x77 }]);
      const before = await snapshotTree(rep);
      const pool = new ChangeOnFirstRead(swap);
      try {
        const f = await failure(replicateLocal({ sources: [src], toDir: rep, pool }));
        expect(f.code, `${f.message} (seed ${seed})`).to.equal('SOURCE_CHANGED');
      } finally {
        await pool.close();
      }
      expect(withoutLock(await snapshotTree(rep)), 'the replica folder is exactly as it was').to.deep.equal(withoutLock(before));
      // The next run reads what the path names now, whole and consistent.
      const next = await replicateLocal({ sources: [src], toDir: rep });
      expect(next.generation).to.equal(2);
      expect((await qemuCompare(src, join(rep, 'vm.vhdx'))).same, 'qemu-img compare').to.equal(true);
      expect((await qemuCheck(join(rep, 'vm.vhdx'))).ok).to.equal(true);
      expect(await sameBytes(src, join(rep, 'vm.vhdx'))).to.equal(true);
    });
  }

  it('a shared pool never reads a replaced file through a descriptor kept from an earlier run (replicate, then verify)', async () => {
    const { rand, seed } = seeded('adversarial-shared-pool');
    const src = join(dir, 'vm.vmcx');
    const rep = join(dir, 'replica');
    const first = seededBytes(rand, 3 * MiB + 123);
    await writeFile(src, first);
    const pool = new HashPool(2);
    try {
      await replicateLocal({ sources: [src], toDir: rep, blockSize: 65536, pool });
      // Saved the way editors and config writers do: a new file renamed over the old one.
      const second = Buffer.from(first);
      for (let k = 0; k < 20; k++) second[Math.floor(rand() * second.length)] ^= 0xff;
      await writeFile(`${src}.tmp`, second);
      await rename(`${src}.tmp`, src);
      const r = await replicateLocal({ sources: [src], toDir: rep, blockSize: 65536, pool });
      expect(r.blocksChanged, `seed ${seed}`).to.be.greaterThan(0);
      expect(await sameBytes(src, join(rep, 'vm.vmcx')), `the replica is the file the path names now (seed ${seed})`).to.equal(true);

      // verify with the same pool: a replica replaced behind its back is compared as it is now.
      const pair = [{ name: 'vm.vmcx', source: src, replica: join(rep, 'vm.vmcx') }];
      expect((await verifyFiles(pair, { blockSize: 65536, pool })).equal).to.equal(true);
      const damaged = Buffer.from(second);
      damaged[2 * MiB + 5] ^= 0x01;
      await writeFile(join(dir, 'other'), damaged);
      await rename(join(dir, 'other'), join(rep, 'vm.vmcx'));
      const v = await verifyFiles(pair, { blockSize: 65536, pool });
      expect([v.equal, v.files[0]!.differingRanges], `seed ${seed}`).to.deep.equal([false, [{ offset: 2 * MiB, length: 65536 }]]);
    } finally {
      await pool.close();
    }
  });

  it('verify reads a replica on a read-only file system (no lock to take) and refuses one with a committed cycle not applied', async function () {
    // A read-only bind mount needs root, like the loop-mounted file systems of disk-full.test.ts.
    if (process.getuid?.() !== 0) {
      if (process.env.CI === 'true') throw new Error('needs root (mount) under CI');
      this.skip();
    }
    const { rand, seed } = seeded('adversarial-verify-read-only');
    const src = join(dir, 'vm.vmcx');
    const rep = join(dir, 'replica');
    const ro = join(dir, 'ro');
    await writeFile(src, seededBytes(rand, 2 * MiB + 999));
    await replicateLocal({ sources: [src], toDir: rep, blockSize: 65536 });
    const at = Math.floor(rand() * (2 * MiB));
    await mkdir(ro);
    execFileSync('mount', ['--bind', rep, ro]);
    try {
      execFileSync('mount', ['-o', 'remount,bind,ro', ro]);
      const before = await snapshotTree(rep);
      const same = await verifyLocal({ sources: [src], replicaDir: ro });
      expect([same.equal, same.generation], `seed ${seed}`).to.deep.equal([true, 1]);
      const fh = await open(src, 'r+');
      await fh.write(Buffer.from([0x5a ^ (at & 0xff)]), 0, 1, at);
      await fh.close();
      const differs = await verifyLocal({ sources: [src], replicaDir: ro });
      expect([differs.equal, differs.files[0]!.differingRanges], `seed ${seed}`).to.deep.equal([false, [{ offset: Math.floor(at / 65536) * 65536, length: 65536 }]]);
      expect(await snapshotTree(rep), 'nothing was written').to.deep.equal(before);
    } finally {
      execFileSync('umount', [ro]);
    }
    // A committed cycle waiting to be applied: the files may be torn, so no verdict.
    await writeFile(join(rep, '.vmmirror', 'journal.commit'), '{}');
    execFileSync('mount', ['--bind', rep, ro]);
    try {
      execFileSync('mount', ['-o', 'remount,bind,ro', ro]);
      const f = await failure(verifyLocal({ sources: [src], replicaDir: ro }));
      expect(f.code, f.message).to.equal('REPLICA_INVALID');
      expect(f.message).to.match(/read-only file system and holds a committed cycle not yet applied: no verdict/);
    } finally {
      execFileSync('umount', [ro]);
    }
  });
});
