import { expect } from 'chai';
import { appendFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { hasCode } from '../../../src/errors';
import { runOk } from '../../../src/util/exec';
import { createSimulatedVm } from '../../../src/hypervisor/simulated';
import type { DiskReference, FrozenView } from '../../../src/hypervisor/types';
import { seeded } from '../../helpers/seed';
import { makeSimFixture, type SimFixture } from './fixture';

const MiB = 1024 * 1024;
const T = { timeoutMs: 20_000 };
const T_HB = { ...T, waitHeartbeat: true };

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
  it('voids references when a disk is written outside the VM (a resync), and keeps them across a clean restart', async () => {
    const vid = await createSimulatedVm(f.stateDir, { name: 'offline edit', disks: [{ sizeBytes: 2 * MiB, subformat: 'fixed' }, { sizeBytes: 1 * MiB, subformat: 'raw' }] });
    await f.hypervisor.startVm(vid, T_HB);
    const v0 = await f.hypervisor.freeze(vid, T);
    const refs = await v0.release({ commit: true });
    await f.hypervisor.guestWrite(vid, { offset: 0, length: 4096, pattern: 5 });
    await f.hypervisor.stopVm(vid, 'Shutdown', T);
    await f.hypervisor.startVm(vid, T_HB);
    await f.hypervisor.guestWrite(vid, { diskIndex: 1, offset: 512, length: 512, pattern: 6 });
    await f.hypervisor.stopVm(vid, 'Shutdown', T);
    const v1 = await f.hypervisor.freeze(vid, T);
    try {
      const changes = await f.hypervisor.changedRanges(vid, v1, refs, T);
      expect(changes.map((c) => c.ranges)).to.deep.equal([[{ offset: 0, length: 4096 }], [{ offset: 512, length: 512 }]]);
    } finally {
      await v1.release({ commit: false });
    }
    // Someone else writes both disks while the VM is off.
    const [d0, d1] = (await f.hypervisor.getVm(vid))!.disks;
    await runOk('qemu-io', ['-f', 'vhdx', '-c', 'write -q -P 1 1048576 512', d0!.path]);
    const fh = await open(d1!.path, 'r+');
    await fh.write(Buffer.alloc(512, 7), 0, 512, 4096);
    await fh.close();
    const v2 = await f.hypervisor.freeze(vid, T);
    try {
      await expectUnavailable(f.hypervisor.changedRanges(vid, v2, refs, T));
    } finally {
      await v2.release({ commit: false });
    }
  });
});
