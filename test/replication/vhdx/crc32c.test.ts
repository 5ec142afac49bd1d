import { expect } from 'chai';
import { crc32c, crc32cBetween, crc32cCombine, structureChecksum } from '../../../src/replication/vhdx/crc32c';
import { seeded } from '../../helpers/seed';

// Bit-at-a-time reference: slow, obviously right, independent of the table code.
function reference(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

describe('src/replication/vhdx/crc32c', () => {
  it('gives 0xE3069283 for "123456789" (the Castagnoli check value)', () => {
    expect(crc32c(Buffer.from('123456789', 'ascii'))).to.equal(0xe3069283);
  });

  it('gives 0 for empty input', () => {
    expect(crc32c(new Uint8Array(0))).to.equal(0);
  });

  it('agrees with a bit-at-a-time reference on random buffers of every alignment', () => {
    const { int } = seeded('crc32c-random');
    for (let i = 0; i < 200; i++) {
      const buf = Buffer.alloc(int(0, 300));
      for (let j = 0; j < buf.length; j++) buf[j] = int(0, 255);
      expect(crc32c(buf), `length ${buf.length}`).to.equal(reference(buf));
    }
  });

  it('continues over split buffers to the same result as one call', () => {
    const { int } = seeded('crc32c-split');
    const buf = Buffer.alloc(5000);
    for (let j = 0; j < buf.length; j++) buf[j] = int(0, 255);
    const cut = int(1, buf.length - 1);
    expect(crc32c(buf.subarray(cut), crc32c(buf.subarray(0, cut)))).to.equal(crc32c(buf));
  });

  it('computes a structure checksum as if its own checksum field were zero', () => {
    const buf = Buffer.alloc(64);
    buf.write('head', 0, 'latin1');
    buf.writeUInt32LE(0xdeadbeef, 4);
    const zeroed = Buffer.from(buf);
    zeroed.writeUInt32LE(0, 4);
    expect(structureChecksum(buf)).to.equal(reference(zeroed));
    expect(buf.readUInt32LE(4)).to.equal(0xdeadbeef);
  });

  it('combines CRCs of two parts, and recovers a part from two prefix CRCs, as a direct computation does', () => {
    const { int, seed } = seeded('crc32c-combine');
    for (let round = 0; round < 20; round++) {
      const buf = Buffer.alloc(int(0, 40_000));
      for (let j = 0; j < buf.length; j++) buf[j] = int(0, 255);
      const a = int(0, buf.length);
      const b = int(a, buf.length);
      const [x, y] = [buf.subarray(0, a), buf.subarray(a, b)];
      expect(crc32cCombine(crc32c(x), crc32c(y), y.length), `seed ${seed}`).to.equal(crc32c(buf.subarray(0, b)));
      expect(crc32cBetween(crc32c(x), crc32c(buf.subarray(0, b)), y.length), `seed ${seed}`).to.equal(reference(y));
    }
  });
});
