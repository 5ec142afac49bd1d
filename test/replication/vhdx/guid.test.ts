import { expect } from 'chai';
import { guidToBytes, parseGuid } from '../../../src/replication/vhdx/guid';
import { seeded } from '../../helpers/seed';

describe('src/replication/vhdx/guid', () => {
  it('reads the BAT region GUID from its on-disk mixed-endian bytes', () => {
    const onDisk = Buffer.from('6677c22d23f600429d64115e9bfd4a08', 'hex');
    expect(parseGuid(onDisk)).to.equal('2DC27766-F623-4200-9D64-115E9BFD4A08');
  });

  it('reads a GUID at an offset inside a larger buffer', () => {
    const buf = Buffer.concat([Buffer.alloc(5, 0xff), Buffer.from('06a27c8b90479a4bb8fe575f050f886e', 'hex')]);
    expect(parseGuid(buf, 5)).to.equal('8B7CA206-4790-4B9A-B8FE-575F050F886E');
  });

  it('turns text back into the same bytes for random GUIDs', () => {
    const { int } = seeded('guid-roundtrip');
    for (let i = 0; i < 50; i++) {
      const raw = Buffer.alloc(16);
      for (let j = 0; j < 16; j++) raw[j] = int(0, 255);
      const text = parseGuid(raw);
      expect(text).to.match(/^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/);
      expect(guidToBytes(text).equals(raw)).to.equal(true);
      expect(guidToBytes(text.toLowerCase()).equals(raw)).to.equal(true);
    }
  });

  it('refuses text that is not a GUID and buffers too short to hold one', () => {
    expect(() => guidToBytes('not-a-guid')).to.throw(RangeError);
    expect(() => parseGuid(Buffer.alloc(15))).to.throw(RangeError);
  });
});
