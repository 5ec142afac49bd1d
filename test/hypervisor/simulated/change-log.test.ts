import { expect } from 'chai';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasCode } from '../../../src/errors';
import { createSimulatedVm } from '../../../src/hypervisor/simulated';
import type { DiskReference, FrozenView } from '../../../src/hypervisor/types';
import { seeded } from '../../helpers/seed';
import { makeSimFixture, type SimFixture } from './fixture';

const MiB = 1024 * 1024;
const T = { timeoutMs: 20_000 };

async function expectUnavailable(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    expect(hasCode(err, 'RCT_UNAVAILABLE'), String(err)).to.equal(true);
    return;
  }
  expect.fail('expected RCT_UNAVAILABLE');
}

describe('src/hypervisor/simulated/change-log', function () {
  this.timeout(60_000);
  let f: SimFixture;
  let id: string;
  before(async () => {
    f = await makeSimFixture({ switchNames: ['LAN'], hostMemoryBytes: 8 * 1024 * MiB });
    id = await createSimulatedVm(f.stateDir, { name: 'rct', disks: [{ sizeBytes: 2 * MiB, subformat: 'raw' }] });
  });
  after(async () => f?.cleanup());

  async function cycle(): Promise<{ view: FrozenView; refs: DiskReference[] }> {
    const view = await f.hypervisor.freeze(id, T);
    return { view, refs: await view.release({ commit: true }) };
  }

  it('answers from any committed reference still kept, with the union of every write since', async () => {
    const { int } = seeded('sim-changelog-union');
    const a = await cycle();
    const w1 = { offset: int(0, 100) * 512, length: 512 };
    await f.hypervisor.guestWrite(id, { ...w1, pattern: 1 });
    const b = await cycle();
    const w2 = { offset: MiB + int(0, 100) * 512, length: 1024 };
    await f.hypervisor.guestWrite(id, { ...w2, pattern: 2 });
    const v = await f.hypervisor.freeze(id, T);
    try {
      expect((await f.hypervisor.changedRanges(id, v, a.refs, T))[0]!.ranges).to.deep.equal([w1, w2]);
      expect((await f.hypervisor.changedRanges(id, v, b.refs, T))[0]!.ranges).to.deep.equal([w2]);
      // A reference newer than the view cannot answer for it.
      await expectUnavailable(f.hypervisor.changedRanges(id, a.view, b.refs, T));
    } finally {
      await v.release({ commit: false });
    }
  });

  it('forgets pruned references (RCT_UNAVAILABLE) and keeps the ones asked for', async () => {
    const a = await cycle();
    const b = await cycle();
    await f.hypervisor.pruneReferences(id, b.refs);
    const v = await f.hypervisor.freeze(id, T);
    try {
      await expectUnavailable(f.hypervisor.changedRanges(id, v, a.refs, T));
      expect((await f.hypervisor.changedRanges(id, v, b.refs, T))[0]!.ranges).to.deep.equal([]);
    } finally {
      await v.release({ commit: false });
    }
  });

  it('refuses an uncommitted view as a reference, a reference for another disk, and a log damaged inside the interval', async () => {
    const base = (await f.hypervisor.getVm(id))!.disks[0]!.basePath;
    const uncommitted = await f.hypervisor.freeze(id, T);
    await uncommitted.release({ commit: false });
    const good = await cycle();
    // A line torn by a crash, between the reference and the next view.
    await appendFile(join(f.stateDir, 'vms', id, 'disk-0.changes.jsonl'), '{"t":"W","s":\n');
    const v = await f.hypervisor.freeze(id, T);
    try {
      await expectUnavailable(f.hypervisor.changedRanges(id, v, [{ basePath: base, rctId: `simrct:${uncommitted.viewId}` }], T));
      await expectUnavailable(f.hypervisor.changedRanges(id, v, [{ basePath: '/elsewhere.vhdx', rctId: good.refs[0]!.rctId }], T));
      await expectUnavailable(f.hypervisor.changedRanges(id, v, good.refs, T));
    } finally {
      await v.release({ commit: false });
    }
    // Damage before a reference does not matter to the answers after it.
    const after = await cycle();
    await f.hypervisor.guestWrite(id, { offset: 4096, length: 512, pattern: 3 });
    const v2 = await f.hypervisor.freeze(id, T);
    try {
      expect((await f.hypervisor.changedRanges(id, v2, after.refs, T))[0]!.ranges).to.deep.equal([{ offset: 4096, length: 512 }]);
    } finally {
      await v2.release({ commit: false });
    }
  });
});
