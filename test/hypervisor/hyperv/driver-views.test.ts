import { expect } from 'chai';
import { HypervDriver } from '../../../src/hypervisor/hyperv/driver';
import { seeded } from '../../helpers/seed';
import { expectCode, MiB, MockState, newVm, T } from './helpers';
import { makeMockHost, type MockHost } from './mock-fixture';

// The Hyper-V driver's frozen views and RCT on the mock, beyond the shared contract: partial RCT
// answers, RCT failures, pruning only our reference points, views left behind by a crash.

describe('src/hypervisor/hyperv/driver (views and RCT)', function () {
  this.timeout(120_000);
  let h: MockHost;
  before(async () => {
    h = await makeMockHost({ switchNames: ['LAN'], hostMemoryBytes: 64 * 1024 * MiB });
  });
  after(async () => h?.cleanup());

  describe('changed ranges', () => {
    it('loops over partial RCT answers and returns the exact union of the writes', async () => {
      await h.mock('SetHost', { RctChunkBytes: 192 * 1024 });
      const id = await newVm(h, 'rct chunks', { State: 'Running' });
      const v1 = await h.hypervisor.freeze(id, T);
      const refs = await v1.release({ commit: true });
      const r = seeded('hyperv-rct-chunks');
      const writes: Array<{ offset: number; length: number }> = [];
      for (let i = 0; i < 10; i++) {
        const length = r.int(1, 700) * 512;
        const offset = r.int(0, (4 * MiB - length) / 512) * 512;
        writes.push({ offset, length });
        await h.guestWrite(id, offset, length, r.int(1, 255));
      }
      // Two overlapping writes across a chunk boundary, and one at the very end of the disk.
      for (const w of [{ offset: 190 * 1024, length: 8192 }, { offset: 194 * 1024, length: 4096 }, { offset: 4 * MiB - 512, length: 512 }]) {
        writes.push(w);
        await h.guestWrite(id, w.offset, w.length, 7);
      }
      const v2 = await h.hypervisor.freeze(id, T);
      try {
        const [changes] = await h.hypervisor.changedRanges(id, v2, refs, T);
        const expected = byteSet(writes);
        const got = byteSet(changes!.ranges);
        expect(got.size).to.equal(expected.size);
        for (const b of expected) expect(got.has(b), `byte-sector ${b}`).to.equal(true);
        for (let i = 1; i < changes!.ranges.length; i++) {
          const prev = changes!.ranges[i - 1]!;
          expect(changes!.ranges[i]!.offset, 'sorted and merged').to.be.greaterThan(prev.offset + prev.length);
        }
      } finally {
        await v2.release({ commit: false });
        await h.mock('SetHost', { RctChunkBytes: MiB });
      }
    });

    it('reports RCT_UNAVAILABLE when the platform fails, for a pruned reference, and for a configuration version below 6.2', async () => {
      const id = await newVm(h, 'rct fails', { State: 'Running' });
      const refs1 = await (await h.hypervisor.freeze(id, T)).release({ commit: true });
      const refs2 = await (await h.hypervisor.freeze(id, T)).release({ commit: true });
      const refs3 = await (await h.hypervisor.freeze(id, T)).release({ commit: true });
      await h.hypervisor.pruneReferences(id, refs3);
      const state = MockState.parse(await h.mock('GetState', {}));
      expect(state.Vms.find((v) => v.Id.toLowerCase() === id)!.ReferencePoints).to.have.length(1);
      const view = await h.hypervisor.freeze(id, T);
      try {
        expect((await h.hypervisor.changedRanges(id, view, refs3, T))[0]!.ranges).to.deep.equal([]);
        await expectCode(h.hypervisor.changedRanges(id, view, refs1, T), 'RCT_UNAVAILABLE');
        await expectCode(h.hypervisor.changedRanges(id, view, refs2, T), 'RCT_UNAVAILABLE');
        await expectCode(h.hypervisor.changedRanges(id, view, [], T), 'RCT_UNAVAILABLE');
        await h.mock('SetHost', { RctFail: true });
        const d = await expectCode(h.hypervisor.changedRanges(id, view, refs3, T), 'RCT_UNAVAILABLE');
        expect(String(d.scriptDetails && (d.scriptDetails as { PlatformMessage?: string }).PlatformMessage)).to.include('32768');
      } finally {
        await h.mock('SetHost', { RctFail: false });
        await view.release({ commit: false });
      }
      const old = await newVm(h, 'old version', { State: 'Running', Version: '5.0' });
      const oldRefs = await (await h.hypervisor.freeze(old, T)).release({ commit: true });
      const oldView = await h.hypervisor.freeze(old, T);
      try {
        await expectCode(h.hypervisor.changedRanges(old, oldView, oldRefs, T), 'RCT_UNAVAILABLE');
      } finally {
        await oldView.release({ commit: false });
      }
    });

    it('prunes only the reference points it made, never another tool\'s', async () => {
      const id = await newVm(h, 'foreign refs', { State: 'Running' });
      const other = new HypervDriver({ runner: h.runner });
      const foreign = await (await other.freeze(id, T)).release({ commit: true });
      const old = await (await h.hypervisor.freeze(id, T)).release({ commit: true });
      const current = await (await h.hypervisor.freeze(id, T)).release({ commit: true });
      await h.hypervisor.pruneReferences(id, current);
      const state = MockState.parse(await h.mock('GetState', {}));
      expect(state.Vms.find((v) => v.Id.toLowerCase() === id)!.ReferencePoints).to.have.length(2);
      const view = await h.hypervisor.freeze(id, T);
      try {
        await h.hypervisor.changedRanges(id, view, foreign, T);
        await h.hypervisor.changedRanges(id, view, current, T);
        await expectCode(h.hypervisor.changedRanges(id, view, old, T), 'RCT_UNAVAILABLE');
      } finally {
        await view.release({ commit: false });
      }
    });

    it('releases a view left behind by a crash by its id, after which freezing works again', async () => {
      const id = await newVm(h, 'crashed mid-cycle', { State: 'Running' });
      const orphan = await h.hypervisor.freeze(id, T);
      await h.guestWrite(id, 8192, 1024, 0x3c);
      const restarted = new HypervDriver({ runner: h.runner });
      const d = await expectCode(restarted.freeze(id, T), 'VM_WRONG_STATE');
      expect(String((d.scriptDetails as { CheckpointDisk?: string }).CheckpointDisk)).to.match(/\.avhdx$/);
      expect(await restarted.releaseView(id, orphan.viewId, { commit: false, timeoutMs: 20_000 })).to.deep.equal([]);
      expect(await restarted.releaseView(id, orphan.viewId, { commit: false, timeoutMs: 20_000 })).to.deep.equal([]);
      const base = orphan.disks[0]!.basePath;
      expect((await h.readVirtual(base, 8192, 1024)).equals(Buffer.alloc(1024, 0x3c))).to.equal(true);
      const refs = await (await restarted.freeze(id, T)).release({ commit: true });
      expect(refs.map((r) => r.basePath)).to.deep.equal([base]);
      await expectCode(restarted.releaseView(id, orphan.viewId, { commit: true, timeoutMs: 20_000 }), 'HYPERVISOR_ERROR');
    });

    it('refuses a second release of the same view', async () => {
      const id = await newVm(h, 'twice');
      const view = await h.hypervisor.freeze(id, T);
      await view.release({ commit: false });
      await expectCode(view.release({ commit: true }), 'HYPERVISOR_ERROR');
    });
  });
});

/** The set of 512-byte sectors covered by ranges (all writes here are sector-aligned). */
function byteSet(ranges: Array<{ offset: number; length: number }>): Set<number> {
  const s = new Set<number>();
  for (const r of ranges) for (let o = r.offset; o < r.offset + r.length; o += 512) s.add(o / 512);
  return s;
}
