import { expect } from 'chai';
import { HypervisorError } from '../../../src/errors';
import { createSimulatedHypervisor } from '../../../src/hypervisor/simulated';
import { makeSimFixture, type SimFixture } from './fixture';

// The simulated hung guest (src/hypervisor/simulated/guest-hang.ts): its boot's heartbeat is lost
// for every reader, it refuses a shutdown (the VM keeps running), a TurnOff ends it, and the next
// boot answers again; a VM that does not run cannot be hung.

describe('src/hypervisor/simulated/guest-hang (a hung guest for VM health tests)', () => {
  let f: SimFixture;
  let id: string;
  before(async () => {
    f = await makeSimFixture({ switchNames: ['LAN'], hostMemoryBytes: 8 * 1024 ** 3 });
    id = await f.createVm({ name: 'hang me', memoryBytes: 256 * 1024 ** 2, processorCount: 1, disks: [{ sizeBytes: 4 * 1024 ** 2, subformat: 'fixed' }], switchName: 'LAN' });
  });
  after(async () => f?.cleanup());

  it('refuses to hang a VM that does not run (VM_WRONG_STATE)', async () => {
    const err = await f.hypervisor.hangGuest(id).then(() => null, (e: unknown) => e);
    expect(err).to.be.instanceOf(HypervisorError);
    expect((err as HypervisorError).code).to.equal('VM_WRONG_STATE');
  });

  it('hung: heartbeat LostCommunication (read by another driver object too), Shutdown fails and it still runs; TurnOff stops it; the next boot answers', async () => {
    await f.hypervisor.startVm(id, { timeoutMs: 20_000, waitHeartbeat: true });
    expect((await f.hypervisor.getVm(id))!.heartbeat).to.equal('OkApplicationsHealthy');
    await f.hypervisor.hangGuest(id);
    expect((await createSimulatedHypervisor(f.stateDir).getVm(id))!.heartbeat, 'another process reads the same').to.equal('LostCommunication');
    const err = await f.hypervisor.stopVm(id, 'Shutdown', { timeoutMs: 5000 }).then(() => null, (e: unknown) => e);
    expect((err as HypervisorError | null)?.code, String(err)).to.equal('HYPERVISOR_ERROR');
    expect((err as Error).message).to.match(/did not answer the shutdown/);
    expect((await f.hypervisor.getVm(id))!.state).to.equal('Running');
    await f.hypervisor.stopVm(id, 'TurnOff', { timeoutMs: 10_000 });
    expect((await f.hypervisor.getVm(id))!).to.include({ state: 'Off', heartbeat: null });
    await f.hypervisor.startVm(id, { timeoutMs: 20_000, waitHeartbeat: true });
    expect((await f.hypervisor.getVm(id))!.heartbeat, 'a new boot is not hung').to.equal('OkApplicationsHealthy');
    await f.hypervisor.stopVm(id, 'Shutdown', { timeoutMs: 10_000 });
    expect((await f.hypervisor.getVm(id))!.state).to.equal('Off');
  });
});
