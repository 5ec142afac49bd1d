import { expect } from 'chai';
import { join } from 'node:path';
import { HypervDriver } from '../../../src/hypervisor/hyperv/driver';
import { createHypervisor } from '../../../src/hypervisor/registry';
import { expectCode, MiB, newVm, T } from './helpers';
import { makeMockHost, type MockHost } from './mock-fixture';

// The Hyper-V driver on the mock module, beyond the shared contract: wrong states, missing
// heartbeat, slow shutdown, duplicate names, MAC rules, host memory, registration refusals.
// Frozen views and RCT: driver-views.test.ts.

describe('src/hypervisor/hyperv/driver', function () {
  this.timeout(120_000);
  let h: MockHost;
  before(async () => {
    h = await makeMockHost({ switchNames: ['LAN'], hostMemoryBytes: 64 * 1024 * MiB });
  });
  after(async () => h?.cleanup());

  describe('states', () => {
    it('times out (VM_TIMEOUT) waiting for a heartbeat that never comes, yet starts without waiting for it', async () => {
      const id = await newVm(h, 'no heartbeat', { HeartbeatDelayMs: -1 });
      await expectCode(h.hypervisor.startVm(id, { timeoutMs: 1500, waitHeartbeat: true }), 'VM_TIMEOUT');
      const vm = await h.hypervisor.getVm(id);
      expect(vm!.state).to.equal('Running');
      expect(vm!.heartbeat).to.equal('NoContact');
      await h.hypervisor.stopVm(id, 'TurnOff', T);
      const started = await h.hypervisor.startVm(id, { timeoutMs: 5000, waitHeartbeat: false });
      expect(started.state).to.equal('Running');
      await h.hypervisor.stopVm(id, 'TurnOff', T);
    });

    it('passes Hyper-V\'s refusal to shut down a guest without integration services through as HYPERVISOR_ERROR', async () => {
      const id = await newVm(h, 'no shutdown service', { HeartbeatDelayMs: -1, State: 'Running' });
      const d = await expectCode(h.hypervisor.stopVm(id, 'Shutdown', T), 'HYPERVISOR_ERROR');
      expect(String(d.platformMessage)).to.include('shutdown integration service');
      expect((await h.hypervisor.stopVm(id, 'TurnOff', T)).state).to.equal('Off');
    });

    it('keeps its deadline (VM_TIMEOUT, the session stays) when a guest takes too long to shut down', async () => {
      const id = await newVm(h, 'slow shutdown', { State: 'Running' });
      const pid = h.runner.sessionPid();
      await h.mock('SetHost', { StopMs: 30_000 });
      try {
        const started = Date.now();
        await expectCode(h.hypervisor.stopVm(id, 'Shutdown', { timeoutMs: 1000 }), 'VM_TIMEOUT');
        expect(Date.now() - started).to.be.below(10_000);
        expect(h.runner.sessionPid()).to.equal(pid);
        expect((await h.hypervisor.getVm(id))!.state).to.equal('Stopping');
      } finally {
        await h.mock('SetHost', { StopMs: 200 });
      }
    });

    it('refuses to freeze a VM in transition (VM_WRONG_STATE)', async () => {
      await h.mock('SetHost', { StartMs: 10_000 });
      const id = await newVm(h, 'starting');
      try {
        await expectCode(h.hypervisor.startVm(id, { timeoutMs: 300, waitHeartbeat: false }), 'VM_TIMEOUT');
        expect((await h.hypervisor.getVm(id))!.state).to.equal('Starting');
        const d = await expectCode(h.hypervisor.freeze(id, T), 'VM_WRONG_STATE');
        expect(d.scriptDetails).to.deep.equal({ State: 'Starting' });
      } finally {
        await h.mock('SetHost', { StartMs: 200 });
      }
    });

    it('resolves a unique name and reports VM_AMBIGUOUS for a duplicated one', async () => {
      const a = await newVm(h, 'twin');
      await newVm(h, 'twin');
      const solo = await newVm(h, 'solo[1]');
      await expectCode(h.hypervisor.resolveVmByName('twin'), 'VM_AMBIGUOUS');
      await expectCode(h.hypervisor.resolveVmByName('nobody'), 'VM_NOT_FOUND');
      expect((await h.hypervisor.resolveVmByName('solo[1]')).id).to.equal(solo);
      expect((await h.hypervisor.findVmsByName('twin')).map((v) => v.id)).to.include(a);
      expect(await h.hypervisor.findVmsByName('solo1')).to.deep.equal([]);
      expect(await h.hypervisor.findVmsByName('TWIN')).to.deep.equal([]);
    });

    it('treats a non-GUID id as not found without asking PowerShell', async () => {
      expect(await h.hypervisor.getVm("x'; Remove-Item")).to.equal(null);
      await expectCode(h.hypervisor.startVm('*', { ...T, waitHeartbeat: false }), 'VM_NOT_FOUND');
    });
  });

  describe('static MAC and host', () => {
    it('passes Hyper-V\'s refusal to start a VM the host has no memory for through as HYPERVISOR_ERROR', async () => {
      const id = await newVm(h, 'too big', { MemoryBytes: 128 * 1024 * MiB });
      const d = await expectCode(h.hypervisor.startVm(id, { ...T, waitHeartbeat: false }), 'HYPERVISOR_ERROR');
      expect(String(d.platformMessage)).to.include('Not enough memory');
      expect((await h.hypervisor.getVm(id))!.state).to.equal('Off');
    });

    it('refuses to change a running VM\'s MAC (VM_WRONG_STATE) but accepts pinning the MAC it already has', async () => {
      const id = await newVm(h, 'running mac', { State: 'Running' });
      await expectCode(h.hypervisor.setStaticMac(id, {}), 'VM_WRONG_STATE');
      expect((await h.hypervisor.getVm(id))!.networkAdapters[0]!.dynamicMac).to.equal(true);
      await h.hypervisor.stopVm(id, 'TurnOff', T);
      const pinned = await h.hypervisor.setStaticMac(id, { mac: '00-15-5d-aa-bb-cc' });
      expect(pinned.networkAdapters[0]).to.deep.include({ macAddress: '00155DAABBCC', dynamicMac: false });
      await h.hypervisor.startVm(id, { ...T, waitHeartbeat: false });
      const again = await h.hypervisor.setStaticMac(id, {});
      expect(again.networkAdapters[0]).to.deep.include({ macAddress: '00155DAABBCC', dynamicMac: false });
      await expectCode(h.hypervisor.setStaticMac(id, { mac: 'not-a-mac' }), 'HYPERVISOR_ERROR');
      await expectCode(h.hypervisor.setStaticMac(id, { adapterName: 'Network*' }), 'HYPERVISOR_ERROR');
      await h.hypervisor.stopVm(id, 'TurnOff', T);
    });

    it('reports host memory net of running VMs, switches and the highest configuration version', async () => {
      const before = await h.hypervisor.getHost();
      expect(before.switchNames).to.deep.equal(['LAN']);
      expect(before.maxConfigurationVersion).to.equal('12.0');
      const id = await newVm(h, 'memory user', { MemoryBytes: 2 * 1024 * MiB });
      await h.hypervisor.startVm(id, { ...T, waitHeartbeat: false });
      expect((await h.hypervisor.getHost()).freeMemoryBytes).to.equal(before.freeMemoryBytes - 2 * 1024 * MiB);
      await h.hypervisor.stopVm(id, 'TurnOff', T);
    });
  });

  describe('registry', () => {
    it('builds the Hyper-V driver from deps.hyperv and refuses to guess an executable off Windows', async () => {
      const hv = createHypervisor('hyperv', { hyperv: { runner: h.runner } });
      expect(hv).to.be.instanceOf(HypervDriver);
      expect((await hv.getHost()).name).to.equal('MOCKHOST');
      expect(() => createHypervisor('hyperv', {})).to.throw(/executable/);
    });
  });

  describe('replica registration', () => {
    it('refuses to register over the VM itself (other disks: VM_ALREADY_REGISTERED), and a configuration version the host lacks', async () => {
      // The wrong disk count, and adoption of an existing copy, on a second host: driver-replica.test.ts.
      const id = await newVm(h, 'count me');
      const exported = await h.hypervisor.exportConfig(id, join(h.workDir, 'exp count'), T);
      expect(exported.files.some((f) => f.endsWith('.vmcx'))).to.equal(true);
      await expectCode(h.hypervisor.registerReplica(exported.configDir, [], T), 'VM_ALREADY_REGISTERED');
      const v12 = await newVm(h, 'too new', { Version: '254.0' });
      const exp2 = await h.hypervisor.exportConfig(v12, join(h.workDir, 'exp new'), T);
      const ready = await h.hypervisor.checkReadiness(exp2.configDir, { memoryBytes: MiB, timeoutMs: 20_000 });
      expect(ready.canStart).to.equal(false);
      expect(ready.issues.map((i) => i.kind)).to.include('ConfigurationVersion');
    });
  });
});
