import { expect } from 'chai';
import { open, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readVhdxLayout } from '../../../src/replication/vhdx/layout';
import { crc32c } from '../../../src/replication/vhdx/crc32c';
import { ZERO_GUID } from '../../../src/replication/vhdx/guid';
import { createVhdx, qemuWrite } from '../../helpers/qemu';
import { seeded } from '../../helpers/seed';
import { tempDir } from '../../helpers/tmp';
import { MiB, expectCode, patch, qemuInfo, readBytes } from './fixtures';

describe('src/replication/vhdx/layout', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir('vmmirror-vhdx-layout-')));
  after(() => cleanup());

  for (const subformat of ['dynamic', 'fixed'] as const) {
    for (const blockMiB of [1, 2, 8, 32]) {
      it(`reads a ${subformat} VHDX with ${blockMiB} MiB blocks the way qemu-img info does`, async () => {
        const size = subformat === 'fixed' ? 16 * MiB : 64 * MiB;
        const path = join(dir, `${subformat}-${blockMiB}.vhdx`);
        await createVhdx(path, { sizeBytes: size, subformat, blockSizeBytes: blockMiB * MiB });
        const info = await qemuInfo(path);
        const l = await readVhdxLayout(path);
        expect(l.virtualDiskSize).to.equal(info.virtualSize).and.to.equal(size);
        expect(l.blockSize).to.equal(info.clusterSize).and.to.equal(blockMiB * MiB);
        expect(l.leaveBlocksAllocated).to.equal(subformat === 'fixed');
        expect(l.hasParent).to.equal(false);
        expect(l.fileSize).to.equal((await stat(path)).size);
        expect(l.creator).to.match(/^QEMU/);
        expect(l.headers.map((h) => h.valid)).to.deep.equal([true, true]);
        const seqs = l.headers.map((h) => h.header!.sequenceNumber);
        expect(l.currentHeader.sequenceNumber).to.equal(seqs[0]! > seqs[1]! ? seqs[0] : seqs[1]);
        expect(l.regionTablesValid).to.deep.equal([true, true]);
        expect(l.regionTableUsed).to.equal(1);
        expect(l.logicalSectorSize).to.equal(512);
        expect(l.physicalSectorSize).to.be.oneOf([512, 4096]);
        expect(l.chunkRatio).to.equal((2 ** 23 * 512) / l.blockSize);
        expect(l.dataBlockCount).to.equal(Math.ceil(size / l.blockSize));
        expect(l.batEntryCount).to.equal(l.dataBlockCount + Math.floor((l.dataBlockCount - 1) / l.chunkRatio));
        expect(l.batEntryCount * 8).to.be.at.most(l.bat.length);
        expect(l.logActive).to.equal(false);
        expect(l.log.length % MiB).to.equal(0);
        expect(l.page83).to.match(/^[0-9A-F-]{36}$/);
        expect(Object.isFrozen(l) && Object.isFrozen(l.regions) && Object.isFrozen(l.currentHeader)).to.equal(true);
      });
    }
  }

  it('validates both headers by CRC-32C the way qemu wrote them', async () => {
    const path = join(dir, 'crc.vhdx');
    await createVhdx(path, { sizeBytes: 8 * MiB, subformat: 'dynamic' });
    for (const at of [64 * 1024, 128 * 1024]) {
      const h = await readBytes(path, at, 4096);
      const stored = h.readUInt32LE(4);
      h.writeUInt32LE(0, 4);
      expect(crc32c(h)).to.equal(stored);
    }
    const rt = await readBytes(path, 192 * 1024, 64 * 1024);
    const stored = rt.readUInt32LE(4);
    rt.writeUInt32LE(0, 4);
    expect(crc32c(rt)).to.equal(stored);
  });

  it('sees a higher sequence number and a new DataWriteGuid after qemu writes, with the log closed', async () => {
    const path = join(dir, 'written.vhdx');
    await createVhdx(path, { sizeBytes: 16 * MiB, subformat: 'dynamic' });
    const before = await readVhdxLayout(path);
    await qemuWrite(path, 3 * MiB, 4096, 0x5a);
    const after = await readVhdxLayout(path);
    expect(after.currentHeader.sequenceNumber > before.currentHeader.sequenceNumber).to.equal(true);
    expect(after.dataWriteGuid).to.not.equal(before.dataWriteGuid);
    expect(after.logGuid).to.equal(ZERO_GUID);
    expect(after.logActive).to.equal(false);
  });

  it('opens through header 2 when header 1 is damaged, and through header 1 when header 2 is', async () => {
    for (const bad of [1, 2] as const) {
      const path = join(dir, `hdr-${bad}.vhdx`);
      await createVhdx(path, { sizeBytes: 8 * MiB, subformat: 'dynamic' });
      const at = bad === 1 ? 64 * 1024 : 128 * 1024;
      const b = await readBytes(path, at + 100, 1);
      await patch(path, at + 100, Buffer.from([b[0]! ^ 0x01]));
      const l = await readVhdxLayout(path);
      expect(l.headers[bad - 1].valid).to.equal(false);
      expect(l.headers[bad - 1].problem).to.equal('checksum');
      expect(l.currentHeader.slot).to.equal(bad === 1 ? 2 : 1);
    }
  });

  it('refuses a file whose two headers both fail their checksum with VHDX_INVALID', async () => {
    const path = join(dir, 'hdr-both.vhdx');
    await createVhdx(path, { sizeBytes: 8 * MiB, subformat: 'dynamic' });
    await patch(path, 64 * 1024 + 40, Buffer.from([0xff, 0xee]));
    await patch(path, 128 * 1024 + 40, Buffer.from([0xff, 0xee]));
    const err = await expectCode(readVhdxLayout(path), 'VHDX_INVALID');
    expect(err.message).to.equal('hdr-both.vhdx: both VHDX headers fail their CRC-32C checksum');
    expect(err.details).to.include({ path, field: 'headers' });
  });

  it('refuses random bytes as not a VHDX', async () => {
    const { int } = seeded('layout-random-bytes');
    const path = join(dir, 'random.bin');
    const buf = Buffer.alloc(2 * MiB);
    for (let i = 0; i < buf.length; i += 1) buf[i] = int(0, 255);
    await writeFile(path, buf);
    const err = await expectCode(readVhdxLayout(path), 'VHDX_INVALID');
    expect(err.details.field).to.equal('fileIdentifier');
    expect(err.message).to.match(/not a VHDX file/);
  });

  it('refuses truncated files, wherever the cut falls, with VHDX_INVALID', async () => {
    const path = join(dir, 'trunc-src.vhdx');
    await createVhdx(path, { sizeBytes: 8 * MiB, subformat: 'dynamic' });
    for (const cut of [4, 100 * 1024, 200 * 1024, 1 * MiB, 3 * MiB + 4096, 4 * MiB - 1]) {
      const copy = join(dir, `trunc-${cut}.vhdx`);
      await writeFile(copy, await readBytes(path, 0, cut));
      await truncate(copy, cut);
      await expectCode(readVhdxLayout(copy), 'VHDX_INVALID');
    }
  });

  it('reads through an open handle the same as through a path, naming the given path in errors', async () => {
    const path = join(dir, 'handle.vhdx');
    await createVhdx(path, { sizeBytes: 8 * MiB, subformat: 'dynamic' });
    const fh = await open(path, 'r');
    try {
      const viaHandle = await readVhdxLayout(fh, { path });
      expect(viaHandle).to.deep.equal(await readVhdxLayout(path));
    } finally {
      await fh.close();
    }
    await patch(path, 64 * 1024, Buffer.from('xxxx'));
    await patch(path, 128 * 1024, Buffer.from('xxxx'));
    const fh2 = await open(path, 'r');
    try {
      const err = await expectCode(readVhdxLayout(fh2, { path: '/vms/web/disk0.vhdx' }), 'VHDX_INVALID');
      expect(err.message).to.match(/^disk0\.vhdx: both VHDX headers lack the 'head' signature$/);
      expect(err.details.path).to.equal('/vms/web/disk0.vhdx');
    } finally {
      await fh2.close();
    }
  });

  it('reports a missing file as FILE_NOT_FOUND', async () => {
    await expectCode(readVhdxLayout(join(dir, 'absent.vhdx')), 'FILE_NOT_FOUND');
  });
});
