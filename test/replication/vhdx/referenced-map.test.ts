import { expect } from 'chai';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readVhdxLayout } from '../../../src/replication/vhdx/layout';
import type { VhdxLayout } from '../../../src/replication/vhdx/layout';
import { newlyReferenced, referencedMap } from '../../../src/replication/vhdx/referenced-map';
import type { ReferencedMap } from '../../../src/replication/vhdx/referenced-map';
import { mapVirtualRanges } from '../../../src/replication/vhdx/map-ranges';
import { createVhdx, qemuWrites } from '../../helpers/qemu';
import { seeded } from '../../helpers/seed';
import { tempDir } from '../../helpers/tmp';
import { MiB, allZero, createPreallocatedFixedVhdx, readBytes } from './fixtures';

async function mapOf(path: string): Promise<{ layout: VhdxLayout; map: ReferencedMap }> {
  const layout = await readVhdxLayout(path);
  const fh = await open(path, 'r');
  try {
    return { layout, map: await referencedMap(layout, fh) };
  } finally {
    await fh.close();
  }
}

// Every unreferenced MiB of the file must read as zeros (true of qemu-made files).
async function expectUnreferencedZero(path: string, map: ReferencedMap): Promise<number> {
  let checked = 0;
  for (let u = 0; u < map.unitCount; u++) {
    if (map.isReferenced(u)) continue;
    expect(allZero(await readBytes(path, u * MiB, MiB)), `unreferenced MiB ${u} holds data`).to.equal(true);
    checked++;
  }
  return checked;
}

function expectConsistent(map: ReferencedMap): void {
  const extents = [...map.extents()];
  let units = 0;
  for (let i = 0; i < extents.length; i++) {
    const e = extents[i]!;
    expect(e.offset % MiB).to.equal(0);
    if (i > 0) expect(e.offset).to.be.greaterThan(extents[i - 1]!.offset + extents[i - 1]!.length);
    units += Math.ceil(e.length / MiB);
    for (let u = e.offset / MiB; u < (e.offset + e.length) / MiB; u++) expect(map.isReferenced(u)).to.equal(true);
  }
  expect(units).to.equal(map.countReferenced());
  expect(extents.reduce((s, e) => s + e.length, 0)).to.equal(map.referencedBytes());
  expect(Object.values(map.bytesByKind).reduce((s, n) => s + n, 0)).to.equal(map.referencedBytes());
}

describe('src/replication/vhdx/referenced-map', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir('vmmirror-vhdx-refmap-')));
  after(() => cleanup());

  it('references only the header section, log, BAT and metadata of a fresh dynamic disk', async () => {
    const path = join(dir, 'fresh.vhdx');
    await createVhdx(path, { sizeBytes: 64 * MiB, subformat: 'dynamic', blockSizeBytes: 2 * MiB });
    const { layout, map } = await mapOf(path);
    expect(map.bytesByKind).to.deep.equal({ header: MiB, log: layout.log.length, bat: layout.bat.length, metadata: layout.metadataRegion.length, otherRegion: 0, payload: 0, retainedPayload: 0, sectorBitmap: 0 });
    expect(map.presentPayloadBlocks).to.equal(0);
    expect(map.unitCount).to.equal(layout.fileSize / MiB);
    expectConsistent(map);
    await expectUnreferencedZero(path, map);
  });

  it('grows with the blocks qemu allocates for writes, and everything outside it stays zero', async () => {
    const path = join(dir, 'grow.vhdx');
    const blockSize = 2 * MiB;
    await createVhdx(path, { sizeBytes: 64 * MiB, subformat: 'dynamic', blockSizeBytes: blockSize });
    const before = await mapOf(path);
    const { int } = seeded('refmap-grow');
    const writes = Array.from({ length: 10 }, (_, i) => ({ offset: int(0, (64 * MiB - 65536) / 512) * 512, length: int(1, 128) * 512, pattern: 1 + i }));
    await qemuWrites(path, writes);
    const blocks = new Set<number>();
    for (const w of writes) for (let b = Math.floor(w.offset / blockSize); b <= Math.floor((w.offset + w.length - 1) / blockSize); b++) blocks.add(b);
    const after = await mapOf(path);
    expect(after.layout.fileSize).to.be.greaterThan(before.layout.fileSize);
    expect((await stat(path)).size).to.equal(after.layout.fileSize);
    expect(after.map.presentPayloadBlocks).to.equal(blocks.size);
    expect(after.map.bytesByKind.payload).to.equal(blocks.size * blockSize);
    expectConsistent(after.map);
    const fh = await open(path, 'r');
    try {
      for (const e of await mapVirtualRanges(after.layout, fh, writes)) {
        for (let u = Math.floor(e.offset / MiB); u < Math.ceil((e.offset + e.length) / MiB); u++) expect(after.map.isReferenced(u)).to.equal(true);
      }
    } finally {
      await fh.close();
    }
    await expectUnreferencedZero(path, after.map);
  });

  it('lists the file space newly referenced since a previous map: the blocks qemu allocated in between', async () => {
    const path = join(dir, 'newly.vhdx');
    await createVhdx(path, { sizeBytes: 32 * MiB, subformat: 'dynamic', blockSizeBytes: 2 * MiB });
    await qemuWrites(path, [{ offset: 0, length: 4096, pattern: 1 }]);
    const first = await mapOf(path);
    await qemuWrites(path, [{ offset: 4096, length: 4096, pattern: 2 }, { offset: 9 * MiB, length: 4096, pattern: 3 }, { offset: 20 * MiB, length: 4096, pattern: 4 }]);
    const second = await mapOf(path);
    const fresh = [...newlyReferenced(first.map, second.map)];
    expect(fresh.reduce((s, e) => s + e.length, 0)).to.equal(2 * 2 * MiB);
    const fh = await open(path, 'r');
    try {
      const mapped = await mapVirtualRanges(second.layout, fh, [{ offset: 9 * MiB, length: 4096 }, { offset: 20 * MiB, length: 4096 }]);
      for (const m of mapped) expect(fresh.some((f) => m.offset >= f.offset && m.offset + m.length <= f.offset + f.length)).to.equal(true);
      const old = await mapVirtualRanges(second.layout, fh, [{ offset: 4096, length: 4096 }]);
      expect(fresh.some((f) => old[0]!.offset >= f.offset && old[0]!.offset < f.offset + f.length)).to.equal(false);
    } finally {
      await fh.close();
    }
    expect([...newlyReferenced(second.map, second.map)]).to.deep.equal([]);
  });

  it('references every payload block of a preallocated fixed disk and nothing else beyond the metadata', async () => {
    const path = join(dir, 'fixed.vhdx');
    await createPreallocatedFixedVhdx(path, 16 * MiB, 4 * MiB);
    const { layout, map } = await mapOf(path);
    expect(map.presentPayloadBlocks).to.equal(layout.dataBlockCount);
    expect(map.bytesByKind.payload).to.equal(16 * MiB);
    expectConsistent(map);
    await expectUnreferencedZero(path, map);
  });

  it('leaves the preallocated payload of a qemu-default fixed disk unreferenced until written', async () => {
    const path = join(dir, 'fixed-zero.vhdx');
    await createVhdx(path, { sizeBytes: 8 * MiB, subformat: 'fixed', blockSizeBytes: MiB });
    const fresh = await mapOf(path);
    expect(fresh.map.presentPayloadBlocks).to.equal(0);
    expect(fresh.map.countReferenced()).to.be.lessThan(fresh.map.unitCount);
    await qemuWrites(path, [{ offset: 3 * MiB, length: 4096, pattern: 9 }]);
    const written = await mapOf(path);
    expect(written.map.presentPayloadBlocks).to.equal(1);
    expectConsistent(written.map);
    await expectUnreferencedZero(path, written.map);
  });

  it('answers isReferenced false outside the file', async () => {
    const path = join(dir, 'bounds.vhdx');
    await createVhdx(path, { sizeBytes: 8 * MiB, subformat: 'dynamic' });
    const { map } = await mapOf(path);
    expect(map.isReferenced(-1)).to.equal(false);
    expect(map.isReferenced(map.unitCount)).to.equal(false);
    expect(map.isReferenced(0)).to.equal(true);
  });
});
