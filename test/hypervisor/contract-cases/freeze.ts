import { expect } from 'chai';
import type { DiskReference, FrozenView, VmId } from '../../../src/hypervisor/types';
import type { DriverFixture, FixtureOptions } from '../contract';
import { MiB, T, expectCode, expectRanges, hostA, randomWrites, vmSpec as vm, type Range } from './helpers';

// Frozen views, release with and without commit, and changed ranges between references.

/** Registers the freeze cases. */
export function freezeCases(makeFixture: (o: FixtureOptions) => Promise<DriverFixture>): void {
  describe('freeze, release and changed ranges', () => {
    let f: DriverFixture;
    let id: VmId;
    let basePaths: string[];
    const size = 4 * MiB;
    before(async () => {
      f = await makeFixture(hostA);
      id = await f.createVm(vm('frozen', { disks: [{ sizeBytes: size, subformat: 'fixed' }, { sizeBytes: size, subformat: 'dynamic' }] }));
      basePaths = (await f.hypervisor.getVm(id))!.disks.map((d) => d.basePath);
    });
    after(async () => {
      await f?.hypervisor.stopVm(id, 'TurnOff', T).catch(() => undefined);
      await f?.cleanup();
    });

    async function writeAll(writes: Array<Range & { pattern: number }>, disk: number): Promise<void> {
      for (const w of writes) await f.guestWrite(id, w.offset, w.length, w.pattern, disk);
    }

    it('freezes an Off VM on its own disks and returns one reference per disk on commit', async () => {
      const view = await f.hypervisor.freeze(id, T);
      expect(view.vmId).to.equal(id);
      expect(view.disks.map((d) => d.basePath)).to.deep.equal(basePaths);
      expect(view.disks.map((d) => d.readPath)).to.deep.equal(basePaths);
      expect(view.disks.map((d) => d.sizeBytes)).to.deep.equal([size, size]);
      const refs = await view.release({ commit: true });
      expect(refs.map((r) => r.basePath)).to.deep.equal(basePaths);
      for (const r of refs) expect(r.rctId).to.be.a('string').and.not.equal('');
    });

    it('keeps the frozen read paths unchanged while the guest writes, then merges the writes into the base', async () => {
      await f.hypervisor.startVm(id, { ...T, waitHeartbeat: true });
      const view = await f.hypervisor.freeze(id, T);
      try {
        const before = await Promise.all(view.disks.map((d) => f.readVirtual(d.readPath, 0, size)));
        await f.guestWrite(id, 0, 4096, 0xa1, 0);
        await f.guestWrite(id, size - 1024, 1024, 0xa2, 0);
        await f.guestWrite(id, MiB + 512, 8192, 0xa3, 1);
        const during = await Promise.all(view.disks.map((d) => f.readVirtual(d.readPath, 0, size)));
        expect(during[0]!.equals(before[0]!), 'disk 0 frozen').to.equal(true);
        expect(during[1]!.equals(before[1]!), 'disk 1 frozen').to.equal(true);
      } finally {
        await view.release({ commit: false });
      }
      expect((await f.readVirtual(basePaths[0]!, 0, 4096)).equals(Buffer.alloc(4096, 0xa1))).to.equal(true);
      expect((await f.readVirtual(basePaths[0]!, size - 1024, 1024)).equals(Buffer.alloc(1024, 0xa2))).to.equal(true);
      expect((await f.readVirtual(basePaths[1]!, MiB + 512, 8192)).equals(Buffer.alloc(8192, 0xa3))).to.equal(true);
      expect((await f.readVirtual(basePaths[1]!, MiB, 512)).equals(Buffer.alloc(512, 0))).to.equal(true);
    });

    it('reports exactly the ranges written between a committed reference and the next view', async () => {
      const v1 = await f.hypervisor.freeze(id, T);
      const refs = await v1.release({ commit: true });
      const w0 = randomWrites('contract-rct-0', 12, size);
      const w1 = randomWrites('contract-rct-1', 5, size);
      await writeAll(w0, 0);
      await writeAll(w1, 1);
      const v2 = await f.hypervisor.freeze(id, T);
      let refs2: DiskReference[] = [];
      try {
        const changes = await f.hypervisor.changedRanges(id, v2, refs, T);
        expect(changes.map((c) => c.basePath)).to.deep.equal(basePaths);
        expect(changes.map((c) => c.virtualSizeBytes)).to.deep.equal([size, size]);
        expectRanges(changes[0]!.ranges, w0, f.changeGranularityBytes);
        expectRanges(changes[1]!.ranges, w1, f.changeGranularityBytes);
        // Written while v2 is open: not part of v2, reported at the next view instead.
        await f.guestWrite(id, 2 * MiB, 4096, 0x5a, 0);
      } finally {
        refs2 = await v2.release({ commit: true });
      }
      const v3 = await f.hypervisor.freeze(id, T);
      try {
        const changes = await f.hypervisor.changedRanges(id, v3, refs2, T);
        expectRanges(changes[0]!.ranges, [{ offset: 2 * MiB, length: 4096 }], f.changeGranularityBytes);
        expectRanges(changes[1]!.ranges, [], f.changeGranularityBytes);
      } finally {
        await v3.release({ commit: false });
      }
    });

    it('returns no references on release without commit, and the previous reference stays the baseline', async () => {
      const v1 = await f.hypervisor.freeze(id, T);
      const refs = await v1.release({ commit: true });
      await f.guestWrite(id, 8192, 512, 0x11, 0);
      const v2 = await f.hypervisor.freeze(id, T);
      expect(await v2.release({ commit: false })).to.deep.equal([]);
      await f.guestWrite(id, 3 * MiB, 1024, 0x22, 0);
      const v3: FrozenView = await f.hypervisor.freeze(id, T);
      try {
        const changes = await f.hypervisor.changedRanges(id, v3, refs, T);
        expectRanges(changes[0]!.ranges, [{ offset: 8192, length: 512 }, { offset: 3 * MiB, length: 1024 }], f.changeGranularityBytes);
      } finally {
        await v3.release({ commit: false });
      }
    });

    it('fails with RCT_UNAVAILABLE for a reference it never gave', async () => {
      const view = await f.hypervisor.freeze(id, T);
      try {
        const bogus = basePaths.map((p) => ({ basePath: p, rctId: 'rctX:not-a-reference:0' }));
        await expectCode(f.hypervisor.changedRanges(id, view, bogus, T), 'RCT_UNAVAILABLE');
      } finally {
        await view.release({ commit: false });
      }
    });
  });
}
