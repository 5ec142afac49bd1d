import { expect } from 'chai';
import { replayView, replayedSize } from '../../../src/replication/vhdx/replay-view';
import type { VhdxLogReplay } from '../../../src/replication/vhdx/log';
import type { VhdxFile } from '../../../src/replication/vhdx/file-io';

function memoryFile(bytes: Buffer): VhdxFile {
  return {
    read: async (buf, off, len, pos) => ({ bytesRead: bytes.copy(buf, off, pos, Math.min(pos + len, bytes.length)) }),
    stat: async () => ({ size: bytes.length }),
  };
}

function replay(writes: VhdxLogReplay['writes'], lastFileOffset: number): VhdxLogReplay {
  return { tailOffset: 0, headOffset: 0, entryCount: 1, tailSequenceNumber: 1n, headSequenceNumber: 1n, flushedFileOffset: 0, lastFileOffset, writes };
}

describe('src/replication/vhdx/replay-view', () => {
  it('lays pending writes over the file, later writes winning, and zeroes what zero descriptors name', async () => {
    const file = memoryFile(Buffer.alloc(16384, 0xaa));
    const r = replay([
      { fileOffset: 4096, length: 4096, data: Buffer.alloc(4096, 0x01) },
      { fileOffset: 4096, length: 4096, data: Buffer.alloc(4096, 0x02) },
      { fileOffset: 12288, length: 4096 },
    ], 0);
    const v = replayView(file, 16384, r);
    const buf = Buffer.alloc(16384);
    expect((await v.read(buf, 0, 16384, 0)).bytesRead).to.equal(16384);
    expect(buf.subarray(0, 4096).every((b) => b === 0xaa)).to.equal(true);
    expect(buf.subarray(4096, 8192).every((b) => b === 0x02)).to.equal(true);
    expect(buf.subarray(8192, 12288).every((b) => b === 0xaa)).to.equal(true);
    expect(buf.subarray(12288).every((b) => b === 0)).to.equal(true);
    const part = Buffer.alloc(100);
    await v.read(part, 0, 100, 4096 - 50);
    expect([part[0], part[49], part[50], part[99]]).to.deep.equal([0xaa, 0xaa, 0x02, 0x02]);
  });

  it('reads as extended with zeros up to LastFileOffset and past writes beyond the end', async () => {
    const file = memoryFile(Buffer.alloc(4096, 0xaa));
    const r = replay([{ fileOffset: 12288, length: 4096, data: Buffer.alloc(4096, 0x03) }], 8192);
    expect(replayedSize(4096, r)).to.equal(16384);
    const v = replayView(file, 4096, r);
    expect((await v.stat()).size).to.equal(16384);
    const buf = Buffer.alloc(20000, 0xff);
    expect((await v.read(buf, 0, 20000, 0)).bytesRead).to.equal(16384);
    expect(buf.subarray(4096, 12288).every((b) => b === 0)).to.equal(true);
    expect(buf.subarray(12288, 16384).every((b) => b === 0x03)).to.equal(true);
  });
});
