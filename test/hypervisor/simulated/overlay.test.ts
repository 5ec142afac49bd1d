import { expect } from 'chai';
import { appendFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { OVERLAY_MAX_RECORD, appendOverlay, repairOverlay, replayOverlay } from '../../../src/hypervisor/simulated/overlay';
import { seeded } from '../../helpers/seed';
import { tempDir } from '../../helpers/tmp';

describe('src/hypervisor/simulated/overlay', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    tmp = await tempDir();
  });
  afterEach(async () => tmp.cleanup());

  it('replays writes in the order they were made, splitting long ones, so later writes win', async () => {
    const { int } = seeded('sim-overlay-order');
    const path = join(tmp.dir, 'o.simoverlay');
    const model = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < 40; i++) {
      const length = i === 0 ? OVERLAY_MAX_RECORD + 4096 : int(1, 64) * 512;
      const offset = int(0, (model.length - length) / 512) * 512;
      const data = Buffer.alloc(length, int(1, 255));
      data.copy(model, offset);
      await appendOverlay(path, offset, data);
    }
    const replayed = Buffer.alloc(model.length);
    let records = 0;
    await replayOverlay(path, async (offset, data) => {
      expect(data.length).to.be.at.most(OVERLAY_MAX_RECORD);
      data.copy(replayed, offset);
      records += 1;
    });
    expect(records).to.equal(41);
    expect(replayed.equals(model)).to.equal(true);
  });

  it('cuts a record torn by a crash, and appends go on after the intact ones', async () => {
    const path = join(tmp.dir, 'o.simoverlay');
    await appendOverlay(path, 0, Buffer.alloc(512, 1));
    const intact = (await stat(path)).size;
    await appendFile(path, Buffer.from([0x53, 0x4f, 0x56, 0x31, 0, 2, 0, 0, 0, 0])); // header of a 512-byte record, cut short
    await repairOverlay(path);
    expect((await stat(path)).size).to.equal(intact);
    await appendOverlay(path, 512, Buffer.alloc(512, 2));
    const seen: Array<[number, number]> = [];
    await replayOverlay(path, async (offset, data) => void seen.push([offset, data[0]!]));
    expect(seen).to.deep.equal([[0, 1], [512, 2]]);
  });

  it('replays nothing for an overlay that was never created', async () => {
    expect(await replayOverlay(join(tmp.dir, 'missing'), async () => expect.fail('no records'))).to.equal(0);
  });
});
