import { expect } from 'chai';
import { join } from 'node:path';
import { replicateLocal, verifyFiles } from '../../src/replication';
import { createVhdx, qemuCheck, qemuCompare, qemuWrites } from '../helpers/qemu';
import { seeded } from '../helpers/seed';
import { sameBytes } from '../helpers/files';
import { tempDir } from '../helpers/tmp';

const MiB = 1 << 20;

// Random writes of whole sectors at random virtual offsets, some straddling block boundaries.
function randomWrites(rand: () => number, virtualSize: number, count: number): Array<{ offset: number; length: number; pattern: number }> {
  const out: Array<{ offset: number; length: number; pattern: number }> = [];
  for (let i = 0; i < count; i++) {
    const length = 512 * (1 + Math.floor(rand() * 256));
    const offset = 512 * Math.floor((rand() * (virtualSize - length)) / 512);
    out.push({ offset, length, pattern: 1 + Math.floor(rand() * 254) });
  }
  return out;
}

async function judge(source: string, replica: string): Promise<void> {
  expect((await qemuCompare(source, replica)).same, 'qemu-img compare').to.equal(true);
  const check = await qemuCheck(replica);
  expect(check.ok, `qemu-img check: ${check.output}`).to.equal(true);
  expect(await sameBytes(source, replica), 'byte compare').to.equal(true);
}

describe('replication/replicate (judged by QEMU)', () => {
  const cases: Array<{ subformat: 'fixed' | 'dynamic'; blockMiB: number; sizeMiB: number; engineBlock: number; blockStateZero?: boolean }> = [
    { subformat: 'dynamic', blockMiB: 1, sizeMiB: 64, engineBlock: 64 << 10 },
    { subformat: 'dynamic', blockMiB: 8, sizeMiB: 64, engineBlock: 64 << 10 },
    { subformat: 'dynamic', blockMiB: 32, sizeMiB: 96, engineBlock: 256 << 10 },
    { subformat: 'fixed', blockMiB: 2, sizeMiB: 16, engineBlock: 64 << 10 },
    { subformat: 'fixed', blockMiB: 1, sizeMiB: 8, engineBlock: 4 << 10 },
    { subformat: 'fixed', blockMiB: 1, sizeMiB: 16, engineBlock: 64 << 10, blockStateZero: false },
  ];
  for (const c of cases) {
    it(`keeps a ${c.subformat}${c.blockStateZero === false ? ' fully allocated' : ''} VHDX with ${c.blockMiB} MiB blocks byte-identical across seed and delta cycles (${c.engineBlock / 1024} KiB engine blocks)`, async () => {
      const { seed, rand } = seeded(`replicate-${c.subformat}-${c.blockMiB}-${c.engineBlock}`);
      const { dir, cleanup } = await tempDir();
      try {
        const src = join(dir, 'disk.vhdx');
        const rep = join(dir, 'replica');
        await createVhdx(src, { sizeBytes: c.sizeMiB * MiB, subformat: c.subformat, blockSizeBytes: c.blockMiB * MiB, blockStateZero: c.blockStateZero });
        await qemuWrites(src, randomWrites(rand, c.sizeMiB * MiB, 6));

        const first = await replicateLocal({ sources: [src], toDir: rep, blockSize: c.engineBlock });
        await judge(src, join(rep, 'disk.vhdx'));

        expect(first.generation, `seed ${seed}`).to.equal(1);
        for (let cycle = 2; cycle <= 3; cycle++) {
          await qemuWrites(src, randomWrites(rand, c.sizeMiB * MiB, 5));
          const r = await replicateLocal({ sources: [src], toDir: rep });
          expect(r.generation).to.equal(cycle);
          expect(r.bytesSent, 'a delta sends less than the live data').to.be.lessThan(first.bytesSent + 4 * MiB);
          await judge(src, join(rep, 'disk.vhdx'));
        }
        const unchanged = await replicateLocal({ sources: [src], toDir: rep });
        expect(unchanged.blocksChanged, 'nothing changed, nothing sent').to.equal(0);
      } finally {
        await cleanup();
      }
    });
  }

  it('follows a dynamic VHDX as writes allocate new blocks and the file grows', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const src = join(dir, 'grow.vhdx');
      const rep = join(dir, 'replica');
      await createVhdx(src, { sizeBytes: 256 * MiB, subformat: 'dynamic', blockSizeBytes: MiB });
      const r1 = await replicateLocal({ sources: [src], toDir: rep });
      const sizeBefore = r1.files[0].size;
      await qemuWrites(src, [
        { offset: 10 * MiB, length: 2 * MiB, pattern: 0x5a },
        { offset: 200 * MiB + 4096, length: 8192, pattern: 0xa5 },
      ]);
      const r2 = await replicateLocal({ sources: [src], toDir: rep });
      expect(r2.files[0].size, 'the file grew').to.be.greaterThan(sizeBefore);
      expect(r2.files[0].bytesChanged, 'at least what the guest wrote').to.be.at.least(2 * MiB + 8192);
      expect(r2.files[0].bytesChanged, 'the zeros of the newly allocated blocks do not travel').to.be.below(2 * MiB + 8192 + 2 * MiB);
      await judge(src, join(rep, 'grow.vhdx'));
    } finally {
      await cleanup();
    }
  });

  it('sends only the mapped blocks and VHDX structures when given the changed virtual ranges', async () => {
    const { seed, rand } = seeded('replicate-change-tracking');
    const { dir, cleanup } = await tempDir();
    try {
      const src = join(dir, 'ct.vhdx');
      const rep = join(dir, 'replica');
      await createVhdx(src, { sizeBytes: 64 * MiB, subformat: 'dynamic', blockSizeBytes: 2 * MiB });
      await qemuWrites(src, randomWrites(rand, 64 * MiB, 8));
      await replicateLocal({ sources: [src], toDir: rep });
      const writes = randomWrites(rand, 64 * MiB, 4);
      await qemuWrites(src, writes);

      const scan = await verifyFiles([{ name: 'ct.vhdx', source: src, replica: join(rep, 'ct.vhdx') }], { blockSize: 65536 });
      const ct = await replicateLocal({ sources: [src], toDir: rep, changedRanges: new Map([[src, writes.map((w) => ({ offset: w.offset, length: w.length }))]]) });

      expect(scan.equal, 'before the cycle the replica differs').to.equal(false);
      await judge(src, join(rep, 'ct.vhdx'));
      expect(ct.bytesScanned, `seed ${seed}: change tracking reads far less than the file`).to.be.lessThan(ct.files[0].size / 2);
    } finally {
      await cleanup();
    }
  });

  it('replicates several files as one generation and raw files that grow and shrink', async () => {
    const { rand } = seeded('replicate-raw-set');
    const { dir, cleanup } = await tempDir();
    try {
      const { writeFile, truncate } = await import('node:fs/promises');
      const a = join(dir, 'a.vhdx');
      const b = join(dir, 'vm.vmcx');
      const rep = join(dir, 'replica');
      await createVhdx(a, { sizeBytes: 32 * MiB, subformat: 'dynamic' });
      await writeFile(b, Buffer.from(Array.from({ length: 300_001 }, () => Math.floor(rand() * 256))));
      const r1 = await replicateLocal({ sources: [a, b], toDir: rep, blockSize: 16384 });
      expect(r1.files.map((f) => f.mode)).to.deep.equal(['vhdx', 'raw']);

      await writeFile(b, Buffer.from(Array.from({ length: 500_123 }, () => Math.floor(rand() * 256))));
      await qemuWrites(a, [{ offset: MiB, length: 4096, pattern: 7 }]);
      const r2 = await replicateLocal({ sources: [a, b], toDir: rep });
      await truncate(b, 12_345);
      const r3 = await replicateLocal({ sources: [a, b], toDir: rep });

      expect([r2.generation, r3.generation]).to.deep.equal([2, 3]);
      expect(await sameBytes(b, join(rep, 'vm.vmcx'))).to.equal(true);
      await judge(a, join(rep, 'a.vhdx'));
    } finally {
      await cleanup();
    }
  });

  it('adopts a replica copied by hand before the first cycle and sends only what differs', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const { copyFile, mkdir } = await import('node:fs/promises');
      const src = join(dir, 'usb.vhdx');
      const rep = join(dir, 'replica');
      await createVhdx(src, { sizeBytes: 64 * MiB, subformat: 'dynamic', blockSizeBytes: MiB });
      await qemuWrites(src, [{ offset: 0, length: 16 * MiB, pattern: 0x21 }]);
      await mkdir(rep);
      await copyFile(src, join(rep, 'usb.vhdx')); // the admin's USB copy
      await qemuWrites(src, [{ offset: 4 * MiB, length: 65536, pattern: 0x22 }]);

      const r = await replicateLocal({ sources: [src], toDir: rep });

      expect(r.rehashed).to.deep.equal(['usb.vhdx']);
      expect(r.files[0].bytesChanged, 'the copied 16 MiB are not sent again').to.be.below(MiB);
      await judge(src, join(rep, 'usb.vhdx'));
    } finally {
      await cleanup();
    }
  });

  it('sends exactly the scattered blocks change tracking names, many to a worker chunk', async () => {
    const { seed, rand } = seeded('replicate-scattered-ct');
    const { dir, cleanup } = await tempDir();
    try {
      const { writeFile, open: openFile } = await import('node:fs/promises');
      const src = join(dir, 'scattered.raw');
      const rep = join(dir, 'replica');
      const B = 4096;
      await writeFile(src, Buffer.alloc(2048 * B + 777, 0x5e)); // a partial last block too
      await replicateLocal({ sources: [src], toDir: rep, blockSize: B });
      const picked = new Set<number>([2048]);
      while (picked.size < 300) picked.add(Math.floor(rand() * 2048));
      const fh = await openFile(src, 'r+');
      for (const b of picked) await fh.write(Buffer.alloc(b === 2048 ? 777 : B, 0x80 | (b % 100)), 0, b === 2048 ? 777 : B, b * B);
      await fh.close();
      const ranges = [...picked].map((b) => ({ offset: b * B, length: b === 2048 ? 777 : B }));

      const r = await replicateLocal({ sources: [src], toDir: rep, changedRanges: new Map([[src, ranges]]) });

      expect(r.blocksChanged, `seed ${seed}`).to.equal(300);
      expect(r.bytesScanned).to.equal(299 * B + 777);
      expect(await sameBytes(src, join(rep, 'scattered.raw'))).to.equal(true);
    } finally {
      await cleanup();
    }
  });
});
