import { expect } from 'chai';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { readVhdxLayout } from '../../../src/replication/vhdx/layout';
import type { VhdxLayout } from '../../../src/replication/vhdx/layout';
import { mapVirtualRanges, mergeExtents } from '../../../src/replication/vhdx/map-ranges';
import type { VhdxFile } from '../../../src/replication/vhdx/file-io';
import { createVhdx, qemuWrites } from '../../helpers/qemu';
import { seeded } from '../../helpers/seed';
import { tempDir } from '../../helpers/tmp';
import { MiB, allZero, createPreallocatedFixedVhdx, expectCode, readBytes } from './fixtures';

interface Write {
  offset: number;
  length: number;
  pattern: number;
}

// Non-overlapping 512-aligned writes at seeded offsets, three of them straddling a block boundary.
function plannedWrites(label: string, size: number, blockSize: number, count: number): Write[] {
  const { int } = seeded(label);
  const writes: Write[] = [];
  const overlaps = (o: number, l: number): boolean => writes.some((w) => o < w.offset + w.length && w.offset < o + l);
  const blocks = size / blockSize;
  for (let i = 0; i < 3 && blocks > 1; i++) {
    const boundary = int(1, blocks - 1) * blockSize;
    const before = int(1, 64) * 512;
    const length = before + int(1, 64) * 512;
    if (!overlaps(boundary - before, length)) writes.push({ offset: boundary - before, length, pattern: 0 });
  }
  while (writes.length < count) {
    const length = int(1, 256) * 512;
    const offset = int(0, (size - length) / 512) * 512;
    if (!overlaps(offset, length)) writes.push({ offset, length, pattern: 0 });
  }
  writes.forEach((w, i) => (w.pattern = 1 + ((i * 37) % 255)));
  return writes;
}

async function expectPattern(path: string, extents: ReadonlyArray<{ offset: number; length: number }>, pattern: number): Promise<void> {
  for (const e of extents) {
    const bytes = await readBytes(path, e.offset, e.length);
    expect(bytes.length).to.equal(e.length);
    const bad = bytes.findIndex((b) => b !== pattern);
    expect(bad, `file byte ${e.offset + bad} should hold pattern ${pattern}`).to.equal(-1);
  }
}

describe('src/replication/vhdx/map-ranges', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir('vmmirror-vhdx-map-')));
  after(() => cleanup());

  const cases = [
    { subformat: 'dynamic', blockMiB: 1, sizeMiB: 64 },
    { subformat: 'dynamic', blockMiB: 2, sizeMiB: 32 },
    { subformat: 'dynamic', blockMiB: 8, sizeMiB: 64 },
    { subformat: 'dynamic', blockMiB: 32, sizeMiB: 64 },
    { subformat: 'fixed', blockMiB: 2, sizeMiB: 16 },
    { subformat: 'fixed', blockMiB: 1, sizeMiB: 8 },
    { subformat: 'preallocated', blockMiB: 2, sizeMiB: 16 },
    { subformat: 'preallocated', blockMiB: 8, sizeMiB: 16 },
  ] as const;
  for (const c of cases) {
    it(`points every qemu-written range of a ${c.subformat === 'preallocated' ? 'preallocated fixed' : c.subformat} ${c.sizeMiB} MiB disk with ${c.blockMiB} MiB blocks at file bytes holding its pattern`, async () => {
      const path = join(dir, `${c.subformat}-${c.blockMiB}.vhdx`);
      const size = c.sizeMiB * MiB;
      if (c.subformat === 'preallocated') await createPreallocatedFixedVhdx(path, size, c.blockMiB * MiB);
      else await createVhdx(path, { sizeBytes: size, subformat: c.subformat, blockSizeBytes: c.blockMiB * MiB });
      const writes = plannedWrites(`map-${c.subformat}-${c.blockMiB}`, size, c.blockMiB * MiB, 12);
      await qemuWrites(path, writes);
      const layout = await readVhdxLayout(path);
      const fh = await open(path, 'r');
      try {
        let total = 0;
        for (const w of writes) {
          const extents = await mapVirtualRanges(layout, fh, [w]);
          expect(extents.reduce((s, e) => s + e.length, 0), `write at ${w.offset}`).to.equal(w.length);
          await expectPattern(path, extents, w.pattern);
          total += w.length;
        }
        const all = await mapVirtualRanges(layout, fh, writes);
        expect(all.reduce((s, e) => s + e.length, 0)).to.equal(total);
        for (let i = 1; i < all.length; i++) expect(all[i]!.offset).to.be.greaterThan(all[i - 1]!.offset + all[i - 1]!.length);
      } finally {
        await fh.close();
      }
    });
  }

  it('maps ranges in blocks qemu never allocated to nothing, and unwritten parts of allocated blocks to zeros', async () => {
    const path = join(dir, 'sparse.vhdx');
    await createVhdx(path, { sizeBytes: 32 * MiB, subformat: 'dynamic', blockSizeBytes: 2 * MiB });
    await qemuWrites(path, [{ offset: 4 * MiB + 4096, length: 8192, pattern: 0x11 }]);
    const layout = await readVhdxLayout(path);
    const fh = await open(path, 'r');
    try {
      expect(await mapVirtualRanges(layout, fh, [{ offset: 10 * MiB, length: 3 * MiB }, { offset: 0, length: 4 * MiB }])).to.deep.equal([]);
      const rest = await mapVirtualRanges(layout, fh, [{ offset: 4 * MiB, length: 4096 }, { offset: 4 * MiB + 12288, length: 2 * MiB - 12288 }]);
      expect(rest.reduce((s, e) => s + e.length, 0)).to.equal(2 * MiB - 8192);
      for (const e of rest) expect(allZero(await readBytes(path, e.offset, e.length))).to.equal(true);
    } finally {
      await fh.close();
    }
  });

  it('maps the whole of a preallocated fixed disk to one contiguous payload extent', async () => {
    const path = join(dir, 'fixed-whole.vhdx');
    await createPreallocatedFixedVhdx(path, 8 * MiB, 1 * MiB);
    const layout = await readVhdxLayout(path);
    const fh = await open(path, 'r');
    try {
      const extents = await mapVirtualRanges(layout, fh, [{ offset: 0, length: 8 * MiB }]);
      expect(extents).to.have.length(1);
      expect(extents[0]!.length).to.equal(8 * MiB);
      expect(extents[0]!.offset % MiB).to.equal(0);
    } finally {
      await fh.close();
    }
  });

  it('refuses ranges outside the virtual disk with RANGE_INVALID', async () => {
    const path = join(dir, 'range.vhdx');
    await createVhdx(path, { sizeBytes: 4 * MiB, subformat: 'dynamic' });
    const layout = await readVhdxLayout(path);
    const fh = await open(path, 'r');
    try {
      for (const r of [{ offset: 4 * MiB, length: 1 }, { offset: 4 * MiB - 512, length: 1024 }, { offset: -512, length: 512 }, { offset: 0, length: -1 }, { offset: 0.5, length: 1 }, { offset: Number.NaN, length: 1 }]) {
        const err = await expectCode(mapVirtualRanges(layout, fh, [{ offset: 0, length: 512 }, r]), 'RANGE_INVALID');
        expect(err.exitCode).to.equal(4);
      }
      expect(await mapVirtualRanges(layout, fh, [{ offset: 4 * MiB, length: 0 }])).to.deep.equal([]);
    } finally {
      await fh.close();
    }
  });

  it('adds the sector bitmap block, once, for PARTIALLY_PRESENT blocks of a differencing disk', async () => {
    // qemu cannot write differencing VHDX, so the BAT is built by hand behind a real layout's shape.
    const path = join(dir, 'diff-shape.vhdx');
    await createVhdx(path, { sizeBytes: 64 * MiB, subformat: 'dynamic', blockSizeBytes: 1 * MiB });
    const real = await readVhdxLayout(path);
    const layout: VhdxLayout = { ...real, hasParent: true, chunkRatio: 4, dataBlockCount: 64, sectorBitmapBlockCount: 16, batEntryCount: 80, fileSize: 32 * MiB, sizeAfterReplay: 32 * MiB };
    const image = Buffer.alloc(32 * MiB);
    const entry = (index: number, state: number, offsetMiB: number): void => {
      image.writeUInt32LE(((offsetMiB & 0xfff) << 20) | state, layout.bat.offset + index * 8);
      image.writeUInt32LE(Math.floor(offsetMiB / 4096), layout.bat.offset + index * 8 + 4);
    };
    entry(5 + 1, 7, 10); // block 5 is in chunk 1: BAT index 5 + floor(5 / 4)
    entry(6 + 1, 7, 11);
    entry(7 + 1, 6, 14);
    entry(1 * 5 + 4, 6, 20); // sector bitmap of chunk 1
    entry(0, 7, 13); // block 0 partial, but chunk 0's bitmap stays absent
    const file: VhdxFile = {
      read: async (buf, off, len, pos) => ({ bytesRead: image.copy(buf, off, pos, Math.min(pos + len, image.length)) }),
      stat: async () => ({ size: image.length }),
    };
    const got = await mapVirtualRanges(layout, file, [{ offset: 5 * MiB + 512, length: 2 * MiB - 512 }, { offset: 7 * MiB, length: 4096 }]);
    expect(got).to.deep.equal([
      { offset: 10 * MiB + 512, length: 2 * MiB - 512 },
      { offset: 14 * MiB, length: 4096 },
      { offset: 20 * MiB, length: MiB },
    ]);
    await expectCode(mapVirtualRanges(layout, file, [{ offset: 0, length: 512 }]), 'VHDX_INVALID');
  });

  it('merges touching and overlapping extents and drops empty ones', () => {
    expect(mergeExtents([{ offset: 10, length: 5 }, { offset: 0, length: 10 }, { offset: 12, length: 1 }, { offset: 30, length: 0 }, { offset: 20, length: 2 }])).to.deep.equal([
      { offset: 0, length: 15 },
      { offset: 20, length: 2 },
    ]);
  });
});
