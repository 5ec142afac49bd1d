import { expect } from 'chai';
import { join } from 'node:path';
import { readVhdxLayout } from '../../../src/replication/vhdx/layout';
import { createVhdx } from '../../helpers/qemu';
import { tempDir } from '../../helpers/tmp';
import { MiB, expectCode, readBytes, patch, rewriteChecksummed } from './fixtures';

const H1 = 64 * 1024;
const H2 = 128 * 1024;

describe('src/replication/vhdx/header', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir('vmmirror-vhdx-header-')));
  after(() => cleanup());
  let seq = 0;
  async function disk(): Promise<string> {
    const path = join(dir, `h-${seq++}.vhdx`);
    await createVhdx(path, { sizeBytes: 8 * MiB, subformat: 'dynamic' });
    return path;
  }

  it('takes the header with the higher sequence number as current, whichever slot it is in', async () => {
    for (const winner of [1, 2] as const) {
      const path = await disk();
      await rewriteChecksummed(path, winner === 1 ? H1 : H2, 4096, (b) => b.writeBigUInt64LE(1000n, 8));
      await rewriteChecksummed(path, winner === 1 ? H2 : H1, 4096, (b) => b.writeBigUInt64LE(999n, 8));
      const l = await readVhdxLayout(path);
      expect(l.currentHeader.slot).to.equal(winner);
      expect(l.currentHeader.sequenceNumber).to.equal(1000n);
    }
  });

  it('accepts two identical headers (as Disk2VHD writes them) and refuses equal sequence numbers on different headers', async () => {
    const path = await disk();
    await patch(path, H2, await readBytes(path, H1, 4096));
    expect((await readVhdxLayout(path)).currentHeader.slot).to.equal(1);
    await rewriteChecksummed(path, H2, 4096, (b) => b.writeUInt32LE((b.readUInt32LE(20) ^ 1) >>> 0, 20));
    const err = await expectCode(readVhdxLayout(path), 'VHDX_INVALID');
    expect(err.message).to.match(/same sequence number|carry sequence number/);
  });

  it('treats a header with Version 2 or LogVersion 1 as invalid and uses the other one', async () => {
    for (const [field, at] of [['version', 66], ['logVersion', 64]] as const) {
      const path = await disk();
      await rewriteChecksummed(path, H2, 4096, (b) => b.writeUInt16LE(field === 'version' ? 2 : 1, at));
      const l = await readVhdxLayout(path);
      expect(l.headers[1].valid).to.equal(false);
      expect(l.headers[1].problem).to.equal(field);
      expect(l.currentHeader.slot).to.equal(1);
    }
  });

  it('names both problems when the two headers fail differently', async () => {
    const path = await disk();
    await patch(path, H1, Buffer.from('xxxx'));
    await patch(path, H2 + 200, Buffer.from([0x55]));
    const err = await expectCode(readVhdxLayout(path), 'VHDX_INVALID');
    expect(err.message).to.equal(`${path.split('/').pop()}: VHDX header 1 lacks the 'head' signature and header 2 fails its CRC-32C checksum`);
  });
});
