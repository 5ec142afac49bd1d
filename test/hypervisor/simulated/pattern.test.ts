import { expect } from 'chai';
import { PATTERN_UNIT, decodePatternUnit, encodePatternWrite } from '../../../src/hypervisor/simulated';
import { seeded } from '../../helpers/seed';

const VM = '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b';
const BOOT = '0123456789abcdef';

describe('src/hypervisor/simulated/pattern', () => {
  it('decodes every unit of a write back to who wrote it, where and when', () => {
    const buf = encodePatternWrite({ vmId: VM, seq: 123456789012, diskIndex: 2, offset: 8 * PATTERN_UNIT, length: 3 * PATTERN_UNIT, boot: BOOT });
    expect(buf.length).to.equal(3 * PATTERN_UNIT);
    for (let u = 0; u < 3; u++) {
      expect(decodePatternUnit(buf.subarray(u * PATTERN_UNIT, (u + 1) * PATTERN_UNIT))).to.deep.equal({
        vmId: VM, seq: 123456789012, writeOffset: 8 * PATTERN_UNIT, writeLength: 3 * PATTERN_UNIT, unitIndex: u, diskIndex: 2, boot: BOOT,
      });
    }
  });

  it('refuses a unit with any single byte changed, zeros, and a unit glued from two writes', () => {
    const { int } = seeded('sim-pattern-flip');
    const a = encodePatternWrite({ vmId: VM, seq: 1, diskIndex: 0, offset: 0, length: PATTERN_UNIT, boot: BOOT });
    const b = encodePatternWrite({ vmId: VM, seq: 2, diskIndex: 0, offset: 0, length: PATTERN_UNIT, boot: BOOT });
    for (let i = 0; i < 50; i++) {
      const flipped = Buffer.from(a);
      const at = int(0, PATTERN_UNIT - 1);
      flipped[at] = flipped[at]! ^ (1 << int(0, 7));
      expect(decodePatternUnit(flipped), `byte ${at}`).to.equal(null);
    }
    expect(decodePatternUnit(Buffer.alloc(PATTERN_UNIT))).to.equal(null);
    const torn = Buffer.concat([a.subarray(0, 2048), b.subarray(2048)]);
    expect(decodePatternUnit(torn)).to.equal(null);
  });

  it('writes only whole, aligned 4 KiB units with a 16-hex-digit boot tag', () => {
    expect(() => encodePatternWrite({ vmId: VM, seq: 1, diskIndex: 0, offset: 512, length: PATTERN_UNIT, boot: BOOT })).to.throw(RangeError);
    expect(() => encodePatternWrite({ vmId: VM, seq: 1, diskIndex: 0, offset: 0, length: 1000, boot: BOOT })).to.throw(RangeError);
    expect(() => encodePatternWrite({ vmId: VM, seq: 1, diskIndex: 0, offset: 0, length: PATTERN_UNIT, boot: 'xyz' })).to.throw(RangeError);
  });
});
