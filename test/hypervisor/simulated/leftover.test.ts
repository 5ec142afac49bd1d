import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { hasCode } from '../../../src/errors';
import { createSimulatedVm } from '../../../src/hypervisor/simulated';
import { makeSimFixture, type SimFixture } from './fixture';

const MiB = 1024 * 1024;
const T = { timeoutMs: 20_000 };

// A release that fails must not leave the VM unfreezable: the view becomes a leftover that
// releaseLeftoverViews (or the next freeze) merges, without a new driver object (defect 10).
describe('src/hypervisor/simulated/driver (leftover views)', function () {
  this.timeout(60_000);
  let f: SimFixture;
  before(async () => {
    f = await makeSimFixture({ switchNames: ['LAN'], hostMemoryBytes: 8 * 1024 * MiB });
  });
  after(async () => f?.cleanup());

  for (const running of [true, false]) {
    it(`after a failed release (${running ? 'running VM: its process fails' : 'Off VM: the driver fails'}), the same driver releases the leftover and freezes again`, async () => {
      const id = await createSimulatedVm(f.stateDir, { name: `left-${running}`, disks: [{ sizeBytes: 4 * MiB, subformat: 'fixed' }] });
      const freezeRecord = join(f.stateDir, 'vms', id, 'freeze.json');
      if (running) await f.hypervisor.startVm(id, { ...T, waitHeartbeat: true });
      expect(await f.hypervisor.releaseLeftoverViews(id, T)).to.deep.equal({ released: [] });

      const view = await f.hypervisor.freeze(id, T);
      // While a caller holds the view it is not a leftover.
      expect(await f.hypervisor.releaseLeftoverViews(id, T)).to.deep.equal({ released: [] });
      expect(existsSync(freezeRecord)).to.equal(true);
      await f.hypervisor.guestWrite(id, { offset: 4096, length: 4096, pattern: 0x5a });

      await f.hypervisor.injectFault(id, { release: 2 });
      const commitErr = await view.release({ commit: true }).then(() => null, (e: unknown) => e);
      expect(hasCode(commitErr, 'HYPERVISOR_ERROR'), String(commitErr)).to.equal(true);
      const abandonErr = await view.release({ commit: false }).then(() => null, (e: unknown) => e);
      expect(hasCode(abandonErr, 'HYPERVISOR_ERROR'), String(abandonErr)).to.equal(true);
      expect(existsSync(freezeRecord), 'the view is still open').to.equal(true);

      expect(await f.hypervisor.releaseLeftoverViews(id, T)).to.deep.equal({ released: [view.viewId] });
      expect(existsSync(freezeRecord)).to.equal(false);
      // The write made while frozen was merged into the base.
      expect(await f.readVirtual(view.disks[0]!.readPath, 4096, 4096)).to.deep.equal(Buffer.alloc(4096, 0x5a));
      expect(await f.hypervisor.releaseLeftoverViews(id, T)).to.deep.equal({ released: [] });

      const next = await f.hypervisor.freeze(id, T);
      expect(await next.release({ commit: true })).to.have.length(1);
      if (running) await f.hypervisor.stopVm(id, 'TurnOff', T);
    });
  }

  it('a failed release alone no longer blocks the next freeze (it merges the leftover first)', async () => {
    const id = await createSimulatedVm(f.stateDir, { name: 'left-freeze', disks: [{ sizeBytes: 4 * MiB, subformat: 'fixed' }] });
    await f.hypervisor.startVm(id, { ...T, waitHeartbeat: true });
    const view = await f.hypervisor.freeze(id, T);
    await f.hypervisor.injectFault(id, { release: 1 });
    expect(hasCode(await view.release({ commit: false }).then(() => null, (e: unknown) => e), 'HYPERVISOR_ERROR')).to.equal(true);
    const next = await f.hypervisor.freeze(id, T);
    expect(next.viewId).to.not.equal(view.viewId);
    expect(await next.release({ commit: false })).to.deep.equal([]);
    await f.hypervisor.stopVm(id, 'TurnOff', T);
  });
});
