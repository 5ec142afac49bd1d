import { expect } from 'chai';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { readVhdxLayout } from '../../../src/replication/vhdx/layout';
import { referencedMap } from '../../../src/replication/vhdx/referenced-map';
import { guidToBytes, parseGuid } from '../../../src/replication/vhdx/guid';
import { createVhdx } from '../../helpers/qemu';
import { tempDir } from '../../helpers/tmp';
import { MiB, expectCode, patch, rewriteChecksummed } from './fixtures';

const TABLES = [192 * 1024, 256 * 1024];
const UNKNOWN = '1E0A5C3B-7F2D-4E91-A6B8-0C4D2F9E8A71';

// Appends a region entry to both region tables (fixing their checksums).
async function addRegion(path: string, guid: string, offset: number, length: number, required: boolean): Promise<void> {
  for (const at of TABLES) {
    await rewriteChecksummed(path, at, 64 * 1024, (buf) => {
      const n = buf.readUInt32LE(8);
      const o = 16 + n * 32;
      guidToBytes(guid).copy(buf, o);
      buf.writeBigUInt64LE(BigInt(offset), o + 16);
      buf.writeUInt32LE(length, o + 24);
      buf.writeUInt32LE(required ? 1 : 0, o + 28);
      buf.writeUInt32LE(n + 1, 8);
    });
  }
}

describe('src/replication/vhdx/region-table', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir('vmmirror-vhdx-regions-')));
  after(() => cleanup());
  let seq = 0;
  async function disk(): Promise<string> {
    const path = join(dir, `r-${seq++}.vhdx`);
    await createVhdx(path, { sizeBytes: 64 * MiB, subformat: 'dynamic', blockSizeBytes: 8 * MiB });
    return path;
  }

  it('falls back to region table 2 when table 1 fails its checksum', async () => {
    const path = await disk();
    await patch(path, TABLES[0]! + 20, Buffer.from([0x99]));
    const l = await readVhdxLayout(path);
    expect(l.regionTablesValid).to.deep.equal([false, true]);
    expect(l.regionTableUsed).to.equal(2);
    expect(l.bat.length).to.be.greaterThan(0);
  });

  it('refuses a file whose two region tables are both damaged with VHDX_INVALID', async () => {
    const path = await disk();
    await patch(path, TABLES[0]! + 20, Buffer.from([0x99]));
    await patch(path, TABLES[1]!, Buffer.from('xxxx'));
    const err = await expectCode(readVhdxLayout(path), 'VHDX_INVALID');
    expect(err.details.field).to.equal('regionTable');
    expect(err.message).to.match(/both region tables are unusable/);
  });

  it('refuses an unknown required region with VHDX_UNSUPPORTED', async () => {
    const path = await disk();
    await addRegion(path, UNKNOWN, 4 * MiB, MiB, true);
    const err = await expectCode(readVhdxLayout(path), 'VHDX_UNSUPPORTED');
    expect(err.message).to.contain(UNKNOWN);
  });

  it('keeps an unknown optional region and counts it as referenced', async () => {
    const path = await disk();
    await addRegion(path, UNKNOWN, 4 * MiB, MiB, false);
    const l = await readVhdxLayout(path);
    expect(l.regions.find((r) => r.guid === UNKNOWN)).to.include({ kind: 'other', required: false, fileOffset: 4 * MiB });
    const fh = await open(path, 'r');
    try {
      const map = await referencedMap(l, fh);
      expect(map.bytesByKind.otherRegion).to.equal(MiB);
      expect(map.isReferenced(4)).to.equal(true);
    } finally {
      await fh.close();
    }
  });

  it('refuses regions past the end of the file, overlapping each other, or misaligned', async () => {
    for (const [offset, length] of [[64 * MiB, MiB], [2 * MiB, MiB], [4 * MiB + 4096, MiB], [4 * MiB, 4096]] as const) {
      const path = await disk();
      await addRegion(path, UNKNOWN, offset, length, false);
      await expectCode(readVhdxLayout(path), 'VHDX_INVALID');
    }
  });

  it('refuses a region table without a BAT region', async () => {
    const path = await disk();
    for (const at of TABLES) {
      await rewriteChecksummed(path, at, 64 * 1024, (buf) => {
        const batAt = parseGuid(buf, 16) === '2DC27766-F623-4200-9D64-115E9BFD4A08' ? 16 : 48;
        guidToBytes(UNKNOWN).copy(buf, batAt);
      });
    }
    const err = await expectCode(readVhdxLayout(path), 'VHDX_INVALID');
    expect(err.message).to.match(/no BAT region/);
  });
});
