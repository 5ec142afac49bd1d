import { expect } from 'chai';
import { join } from 'node:path';
import { readVhdxLayout } from '../../../src/replication/vhdx/layout';
import type { VhdxLayout } from '../../../src/replication/vhdx/layout';
import { guidToBytes } from '../../../src/replication/vhdx/guid';
import { createVhdx } from '../../helpers/qemu';
import { tempDir } from '../../helpers/tmp';
import { MiB, buildParentLocator, expectCode, patch, readBytes } from './fixtures';

const FILE_PARAMETERS = 'CAA16737-FA36-4D43-B3B6-33F0AA44E76B';
const VIRTUAL_DISK_SIZE = '2FA54224-CD1B-4876-B211-5DBED83BF4B8';
const LOGICAL_SECTOR_SIZE = '8141BF1D-A96F-4709-BA47-F233A8FAAB5F';
const PARENT_LOCATOR = 'A8D35F2D-B30B-454D-ABF7-D3D84834AB0C';

function itemAt(l: VhdxLayout, id: string): number {
  const item = l.metadataItems.find((i) => i.itemId === id);
  if (item === undefined) throw new Error(`no item ${id}`);
  return l.metadataRegion.offset + item.offset;
}

describe('src/replication/vhdx/metadata', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir('vmmirror-vhdx-metadata-')));
  after(() => cleanup());
  let seq = 0;
  async function disk(): Promise<{ path: string; layout: VhdxLayout }> {
    const path = join(dir, `m-${seq++}.vhdx`);
    await createVhdx(path, { sizeBytes: 64 * MiB, subformat: 'dynamic', blockSizeBytes: MiB });
    return { path, layout: await readVhdxLayout(path) };
  }
  function u32(n: number): Buffer {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  }

  for (const [label, size] of [['3 MiB', 3 * MiB], ['512 KiB', 512 * 1024], ['512 MiB', 512 * MiB], ['0', 0]] as const) {
    it(`refuses a block size of ${label} with VHDX_INVALID`, async () => {
      const { path, layout } = await disk();
      await patch(path, itemAt(layout, FILE_PARAMETERS), u32(size));
      const err = await expectCode(readVhdxLayout(path), 'VHDX_INVALID');
      expect(err.details.field).to.equal('blockSize');
      expect(err.message).to.match(/block size/);
    });
  }

  it('refuses a logical sector size other than 512 or 4096', async () => {
    const { path, layout } = await disk();
    await patch(path, itemAt(layout, LOGICAL_SECTOR_SIZE), u32(1000));
    expect((await expectCode(readVhdxLayout(path), 'VHDX_INVALID')).details.field).to.equal('logicalSectorSize');
  });

  it('refuses a virtual size that is not a whole number of sectors', async () => {
    const { path, layout } = await disk();
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(64 * MiB - 100));
    await patch(path, itemAt(layout, VIRTUAL_DISK_SIZE), b);
    expect((await expectCode(readVhdxLayout(path), 'VHDX_INVALID')).details.field).to.equal('virtualDiskSize');
  });

  it('refuses a virtual size whose BAT would not fit in the BAT region', async () => {
    const { path, layout } = await disk();
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(256 * 1024 * MiB));
    await patch(path, itemAt(layout, VIRTUAL_DISK_SIZE), b);
    const err = await expectCode(readVhdxLayout(path), 'VHDX_INVALID');
    expect(err.details.field).to.equal('bat');
  });

  it('refuses a metadata table without its signature, or with an item outside the region', async () => {
    const a = await disk();
    await patch(a.path, a.layout.metadataRegion.offset, Buffer.from('METADATA', 'latin1'));
    expect((await expectCode(readVhdxLayout(a.path), 'VHDX_INVALID')).details.field).to.equal('metadataTable');
    const b = await disk();
    await patch(b.path, b.layout.metadataRegion.offset + 32 + 16, u32(b.layout.metadataRegion.length));
    expect((await expectCode(readVhdxLayout(b.path), 'VHDX_INVALID')).details.field).to.equal('metadataTable');
  });

  it('refuses an unknown required metadata item with VHDX_UNSUPPORTED and accepts an unknown optional one', async () => {
    for (const required of [true, false]) {
      const { path, layout } = await disk();
      const table = await readBytes(path, layout.metadataRegion.offset, 64 * 1024);
      const n = table.readUInt16LE(10);
      const o = 32 + n * 32;
      guidToBytes('5A1E2F3C-4B5D-4E6F-8A9B-0C1D2E3F4A5B').copy(table, o);
      table.writeUInt32LE(128 * 1024, o + 16);
      table.writeUInt32LE(8, o + 20);
      table.writeUInt32LE(required ? 4 : 0, o + 24);
      table.writeUInt16LE(n + 1, 10);
      await patch(path, layout.metadataRegion.offset, table);
      if (required) await expectCode(readVhdxLayout(path), 'VHDX_UNSUPPORTED');
      else expect((await readVhdxLayout(path)).metadataItems).to.have.length(n + 1);
    }
  });

  it('reads a disk marked HasParent as differencing once it carries a parent locator, and refuses it without one', async () => {
    const { path, layout } = await disk();
    const params = await readBytes(path, itemAt(layout, FILE_PARAMETERS), 8);
    params.writeUInt32LE(params.readUInt32LE(4) | 2, 4);
    await patch(path, itemAt(layout, FILE_PARAMETERS), params);
    const err = await expectCode(readVhdxLayout(path), 'VHDX_INVALID');
    expect(err.message).to.match(/no parent locator item/);

    const locator = buildParentLocator({ parent_linkage: '{0a1b2c3d-0000-4000-8000-000000000001}', relative_path: 'parent.vhdx' });
    const table = await readBytes(path, layout.metadataRegion.offset, 64 * 1024);
    const n = table.readUInt16LE(10);
    guidToBytes(PARENT_LOCATOR).copy(table, 32 + n * 32);
    table.writeUInt32LE(128 * 1024, 32 + n * 32 + 16);
    table.writeUInt32LE(locator.length, 32 + n * 32 + 20);
    table.writeUInt32LE(4, 32 + n * 32 + 24);
    table.writeUInt16LE(n + 1, 10);
    await patch(path, layout.metadataRegion.offset, table);
    await patch(path, layout.metadataRegion.offset + 128 * 1024, locator);
    const diff = await readVhdxLayout(path);
    expect(diff.hasParent).to.equal(true);
    expect(diff.parentLocator?.entries.relative_path).to.equal('parent.vhdx');
    // Differencing disks carry a bitmap entry for every chunk, the last one included.
    expect(diff.sectorBitmapBlockCount).to.equal(Math.ceil(diff.dataBlockCount / diff.chunkRatio));
    expect(diff.batEntryCount).to.equal(diff.sectorBitmapBlockCount * (diff.chunkRatio + 1));
  });

  it('refuses a disk missing its virtual disk size item', async () => {
    const { path, layout } = await disk();
    const idx = layout.metadataItems.findIndex((i) => i.itemId === VIRTUAL_DISK_SIZE);
    await patch(path, layout.metadataRegion.offset + 32 + idx * 32, guidToBytes('00000000-0000-0000-0000-0000000000AA'));
    await patch(path, layout.metadataRegion.offset + 32 + idx * 32 + 24, u32(0)); // optional, so it is merely ignored
    const err = await expectCode(readVhdxLayout(path), 'VHDX_INVALID');
    expect(err.message).to.match(/no virtual disk size item/);
  });
});
