import { expect } from 'chai';
import type { VmId } from '../../../src/hypervisor/types';
import type { DriverFixture, FixtureOptions } from '../contract';
import { T, expectCode, hostA, vmSpec as vm } from './helpers';

// Start, stop (Shutdown, TurnOff, Save) and the wrong-state refusals.

/** Registers the lifecycle cases. */
export function lifecycleCases(makeFixture: (o: FixtureOptions) => Promise<DriverFixture>): void {
  describe('lifecycle', () => {
    let f: DriverFixture;
    let id: VmId;
    before(async () => {
      f = await makeFixture(hostA);
      id = await f.createVm(vm('life'));
    });
    after(async () => f?.cleanup());

    it('starts an Off VM into Running with an Ok guest heartbeat', async () => {
      const info = await f.hypervisor.startVm(id, { ...T, waitHeartbeat: true });
      expect(info.state).to.equal('Running');
      expect(info.heartbeat ?? '').to.match(/^Ok/);
      expect((await f.hypervisor.getVm(id))?.state).to.equal('Running');
    });

    it('refuses to start a VM that runs (VM_WRONG_STATE)', async () => {
      await expectCode(f.hypervisor.startVm(id, { ...T, waitHeartbeat: false }), 'VM_WRONG_STATE');
    });

    it('shuts a VM down to Off, then refuses to stop it again (VM_WRONG_STATE)', async () => {
      expect((await f.hypervisor.stopVm(id, 'Shutdown', T)).state).to.equal('Off');
      expect((await f.hypervisor.getVm(id))?.state).to.equal('Off');
      await expectCode(f.hypervisor.stopVm(id, 'Shutdown', T), 'VM_WRONG_STATE');
      await expectCode(f.hypervisor.stopVm(id, 'TurnOff', T), 'VM_WRONG_STATE');
    });

    it('turns a running VM off', async () => {
      await f.hypervisor.startVm(id, { ...T, waitHeartbeat: true });
      expect((await f.hypervisor.stopVm(id, 'TurnOff', T)).state).to.equal('Off');
    });

    it('saves a running VM to Saved and starts it again from Saved', async () => {
      await f.hypervisor.startVm(id, { ...T, waitHeartbeat: true });
      expect((await f.hypervisor.stopVm(id, 'Save', T)).state).to.equal('Saved');
      expect((await f.hypervisor.getVm(id))?.state).to.equal('Saved');
      expect((await f.hypervisor.startVm(id, { ...T, waitHeartbeat: true })).state).to.equal('Running');
      expect((await f.hypervisor.stopVm(id, 'TurnOff', T)).state).to.equal('Off');
    });
  });
}
