import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sniffVhdx } from '../../../src/replication/vhdx/sniff';
import { runOk } from '../../../src/util/exec';
import { createVhdx } from '../../helpers/qemu';
import { tempDir } from '../../helpers/tmp';
import { MiB } from './fixtures';

describe('src/replication/vhdx/sniff', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir('vmmirror-vhdx-sniff-')));
  after(() => cleanup());

  it('recognizes a qemu-made VHDX', async () => {
    const path = join(dir, 'a.vhdx');
    await createVhdx(path, { sizeBytes: 4 * MiB, subformat: 'dynamic' });
    expect(await sniffVhdx(path)).to.equal(true);
  });

  it('says no for a legacy VHD, a short file, other bytes and a missing file', async () => {
    const vhd = join(dir, 'old.vhd');
    await runOk('qemu-img', ['create', '-q', '-f', 'vpc', vhd, String(4 * MiB)]);
    expect(await sniffVhdx(vhd)).to.equal(false);
    await writeFile(join(dir, 'short'), 'vhdx');
    expect(await sniffVhdx(join(dir, 'short'))).to.equal(false);
    await writeFile(join(dir, 'text'), 'VHDXFILE and more');
    expect(await sniffVhdx(join(dir, 'text'))).to.equal(false);
    expect(await sniffVhdx(join(dir, 'missing.vhdx'))).to.equal(false);
  });
});
