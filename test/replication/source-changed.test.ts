import { expect } from 'chai';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { replicateLocal, verifyFiles } from '../../src/replication';
import { HashPool, type HashRequest, type HashResult } from '../../src/replication/source/hash-pool';
import { sameBytes, snapshotTree } from '../helpers/files';
import { createVhdx, qemuCheck, qemuCompare, qemuWrites } from '../helpers/qemu';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';

// A one-shot `replicate` of a disk that a running VM keeps writing (issue 7 item 5). A real
// writer (qemu-io, or a plain write) changes the source at a known instant: after the scan has
// begun (the first hash request) and before it ends, by a pool that runs the writer first.

const MiB = 1 << 20;

class WriterOnFirstRead extends HashPool {
  private fired = false;
  constructor(private readonly writer: () => Promise<void>) {
    super(2);
  }
  override async hash(req: HashRequest): Promise<HashResult> {
    if (!this.fired) {
      this.fired = true;
      await this.writer(); // the writer has finished (qemu-io exited) before the scan reads a byte
    }
    return super.hash(req);
  }
}

async function failure(p: Promise<unknown>): Promise<{ code: string | undefined; message: string }> {
  try {
    await p;
  } catch (err) {
    return { code: (err as { code?: string }).code, message: (err as Error).message };
  }
  return { code: 'none (it succeeded)', message: '' };
}

const withoutLock = (m: Map<string, string>): Array<[string, string]> => [...m.entries()].filter(([k]) => !k.endsWith('lock'));

describe('replication/replicate (a source that changes while it is read)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(() => cleanup());

  const cases: Array<{ what: string; write: (src: string) => Promise<void>; change: RegExp }> = [
    { what: 'allocates a new block (BAT, DataWriteGuid and size change)', write: (src) => qemuWrites(src, [{ offset: 50 * MiB, length: 65536, pattern: 0x5e }]), change: /size went from .*DataWriteGuid went from/ },
    { what: 'writes inside an allocated block', write: (src) => qemuWrites(src, [{ offset: 2 * MiB + 4096, length: 4096, pattern: 0x5f }]), change: /DataWriteGuid went from|modification time changed/ },
  ];
  for (const c of cases) {
    it(`fails with SOURCE_CHANGED and commits nothing when a writer ${c.what}; the next run is clean`, async () => {
      const { seed, int } = seeded(`source-changed-${c.what}`);
      const src = join(dir, 'vm.vhdx');
      const rep = join(dir, 'replica');
      await createVhdx(src, { sizeBytes: 64 * MiB, subformat: 'dynamic', blockSizeBytes: MiB });
      await qemuWrites(src, Array.from({ length: 12 }, (_, i) => ({ offset: (2 + 3 * i) * MiB + 512 * int(0, 100), length: 300_000, pattern: 1 + i })));
      await replicateLocal({ sources: [src], toDir: rep });
      await qemuWrites(src, [{ offset: 7 * MiB, length: 100_000, pattern: 0x44 }]);
      const before = await snapshotTree(rep);

      const pool = new WriterOnFirstRead(() => c.write(src));
      try {
        const f = await failure(replicateLocal({ sources: [src], toDir: rep, pool }));
        expect(f.code, `${f.message} (seed ${seed})`).to.equal('SOURCE_CHANGED');
        expect(f.message).to.match(c.change);
        expect(f.message).to.match(/nothing was committed, the replica stays on generation 1.*stop the VM first, or replicate it through the agent/);
      } finally {
        await pool.close();
      }
      expect(withoutLock(await snapshotTree(rep)), 'the replica folder is exactly as it was').to.deep.equal(withoutLock(before));
      const check = await qemuCheck(join(rep, 'vm.vhdx'));
      expect(check.ok, check.output).to.equal(true);

      // The VM is "stopped": the next run sends generation 2, without claiming the replica was written to.
      const next = await replicateLocal({ sources: [src], toDir: rep });
      expect([next.generation, next.rehashed]).to.deep.equal([2, []]);
      expect((await qemuCompare(src, join(rep, 'vm.vhdx'))).same, 'qemu-img compare').to.equal(true);
      const after = await qemuCheck(join(rep, 'vm.vhdx'));
      expect(after.ok, after.output).to.equal(true);
      expect(await sameBytes(src, join(rep, 'vm.vhdx'))).to.equal(true);
    });
  }

  it('fails with SOURCE_CHANGED when a raw file is overwritten in place (same size) or grows during the scan', async () => {
    const { rand, seed } = seeded('source-changed-raw');
    const src = join(dir, 'vm.vmcx');
    const rep = join(dir, 'replica');
    const bytes = Buffer.alloc(2 * MiB + 77);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rand() * 256);
    await writeFile(src, bytes);
    await replicateLocal({ sources: [src], toDir: rep, blockSize: 65536 });
    const before = await snapshotTree(rep);
    const writers: Array<[string, () => Promise<void>, RegExp]> = [
      ['overwrite', async () => {
        const fh = await open(src, 'r+');
        await fh.write(Buffer.from([0xaa, 0xbb]), 0, 2, 1000 + Math.floor(rand() * 1000));
        await fh.close();
      }, /modification time changed/],
      ['append', async () => {
        const fh = await open(src, 'a');
        await fh.write(Buffer.alloc(5000, 1));
        await fh.close();
      }, /size went from 2097229 to 2102229 bytes/],
    ];
    for (const [what, write, change] of writers) {
      const pool = new WriterOnFirstRead(write);
      try {
        const f = await failure(replicateLocal({ sources: [src], toDir: rep, pool }));
        expect(f.code, `${what}: ${f.message} (seed ${seed})`).to.equal('SOURCE_CHANGED');
        expect(f.message, what).to.match(change);
      } finally {
        await pool.close();
      }
      expect(withoutLock(await snapshotTree(rep)), what).to.deep.equal(withoutLock(before));
    }
    const next = await replicateLocal({ sources: [src], toDir: rep });
    expect([next.generation, next.rehashed]).to.deep.equal([2, []]);
    expect(await sameBytes(src, join(rep, 'vm.vmcx'))).to.equal(true);
  });

  it('verify gives no verdict (SOURCE_CHANGED) when the source changes while it is compared', async () => {
    const src = join(dir, 'vm.vhdx');
    const rep = join(dir, 'replica');
    await createVhdx(src, { sizeBytes: 32 * MiB, subformat: 'dynamic', blockSizeBytes: MiB });
    await qemuWrites(src, [{ offset: 3 * MiB, length: 2 * MiB, pattern: 0x21 }]);
    await replicateLocal({ sources: [src], toDir: rep });
    const pair = [{ name: 'vm.vhdx', source: src, replica: join(rep, 'vm.vhdx') }];
    expect((await verifyFiles(pair, { blockSize: 65536 })).equal).to.equal(true);
    const pool = new WriterOnFirstRead(() => qemuWrites(src, [{ offset: 20 * MiB, length: 4096, pattern: 0x22 }]));
    try {
      const f = await failure(verifyFiles(pair, { blockSize: 65536, pool }));
      expect(f.code, f.message).to.equal('SOURCE_CHANGED');
      expect(f.message).to.match(/vm\.vhdx changed while verify read it .*: no verdict/);
    } finally {
      await pool.close();
    }
  });
});

