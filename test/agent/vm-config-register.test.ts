import { expect } from 'chai';
import { copyFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { LoadedConfig, ResolvedModule } from '../../src/config';
import { hasCode, type ErrorCode } from '../../src/errors';
import { createSimulatedHost, createSimulatedHypervisor, createSimulatedVm } from '../../src/hypervisor/simulated';
import { componentLogger } from '../../src/log';
import type { PeerConnection } from '../../src/peer';
import type { RequestDef } from '../../src/peer/request';
import { VmConfigCommit, VmConfigPart } from '../../src/agent/messages';
import { pinExportedMacs, registerFromStoredConfig } from '../../src/agent/vm-config-register';
import { VmConfigShipper } from '../../src/agent/vm-config-ship';
import { VmConfigStore } from '../../src/agent/vm-config-store';
import { makeSimFixture, type SimFixture } from '../hypervisor/simulated/fixture';
import { createVhdx } from '../helpers/qemu';

// Export on the host that runs the VM, the parts over a (fake, schema-checking) peer link into the
// other host's store, and the registration there over that host's own copy: same id, its disks at
// the local paths, every adapter pinned static to the MAC the VM had, Off until started.

const MiB = 1024 * 1024;
const log = componentLogger('test');

async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<Error> {
  try {
    await p;
  } catch (err) {
    expect(hasCode(err, code), String(err)).to.equal(true);
    return err as Error;
  }
  return expect.fail(`expected ${code}`);
}

/** A peer connection that validates each request against its schema (as the real link does) and hands it to the store. */
function linkTo(store: VmConfigStore, sent: string[]): PeerConnection {
  return {
    async request(def: RequestDef<never, never>, body: unknown) {
      sent.push(def.type);
      if (def.type === VmConfigPart.type) {
        const b = VmConfigPart.body.parse(body);
        return store.putPart(b.module, b.transfer, b.file, b.offset, Buffer.from(b.data, 'base64'));
      }
      if (def.type === VmConfigCommit.type) return store.commit(VmConfigCommit.body.parse(body));
      throw new Error(`unexpected request ${def.type}`);
    },
  } as unknown as PeerConnection;
}

describe('src/agent/vm-config-ship + vm-config-register (simulated driver, two hosts)', function () {
  this.timeout(60_000);
  let a: SimFixture;
  let b: SimFixture;
  before(async () => {
    a = await makeSimFixture({ switchNames: ['LAN'], hostMemoryBytes: 8 * 1024 * MiB });
    b = await makeSimFixture({ switchNames: ['LAN'], hostMemoryBytes: 8 * 1024 * MiB });
  });
  after(async () => {
    await a?.cleanup();
    await b?.cleanup();
  });

  it('sends the configuration once, again only when it changed, and registers it on the peer over the peer\'s copy with the MAC pinned', async () => {
    const diskA = join(a.workDir, 'web1.vhdx');
    const diskB = join(b.workDir, 'copy of web1.vhdx');
    await createVhdx(diskA, { sizeBytes: 4 * MiB, subformat: 'dynamic', blockSizeBytes: MiB });
    await copyFile(diskA, diskB);
    // No MAC given: the simulated host assigns a dynamic one, as Hyper-V does at a first start.
    const id = await createSimulatedVm(a.stateDir, { name: 'WEB1', disks: [{ path: diskA, format: 'VHDX' }], switchNames: ['LAN'] });
    const original = (await a.hypervisor.getVm(id))!.networkAdapters[0]!;
    expect(original.dynamicMac).to.equal(true);
    const m = (localPath: string): ResolvedModule => ({ name: 'web1', vmName: 'WEB1', vmId: id, disks: [{ name: 'web1.vhdx', path: diskA, replicaPath: diskB, localPath }] }) as unknown as ResolvedModule;
    const configA = { dataDir: join(a.workDir, 'data'), peer: { Name: 'hvb' }, self: { Name: 'hva' }, modules: [m(diskA)] } as unknown as LoadedConfig;
    const configB = { dataDir: join(b.workDir, 'data'), peer: { Name: 'hva' }, self: { Name: 'hvb' }, modules: [m(diskB)] } as unknown as LoadedConfig;
    const storeB = new VmConfigStore(configB);
    const sent: string[] = [];
    const shipper = new VmConfigShipper({ config: configA, hypervisor: a.hypervisor, log, connection: async () => linkTo(storeB, sent), vmIdOf: async () => id });

    // Nothing stored yet: the takeover's error says so, with the remedy.
    const none = await expectCode(registerFromStoredConfig({ config: configB, control: b.hypervisor, store: storeB, log }, m(diskB)), 'VM_NOT_REGISTERED');
    expect(none.message).to.include('Registering the replica');

    await shipper.afterCycle(m(diskA), 1);
    expect(sent).to.deep.equal(['vmconfig.part', 'vmconfig.commit']);
    await shipper.afterCycle(m(diskA), 1);
    expect(sent, 'unchanged and checked lately: nothing sent').to.have.length(2);
    expect(await readdir(join(configA.dataDir, 'state', 'web1')), 'the export folder is removed after sending').to.not.include('vm-config-export');

    const stored = (await storeB.current('web1'))!;
    expect(stored.record.VmId).to.equal(id);
    expect(stored.record.Disks).to.deep.equal(['web1.vhdx']);
    expect(stored.record.Adapters).to.deep.equal([{ name: original.name, macAddress: original.macAddress, dynamicMac: true }]);
    expect(await b.hypervisor.getVm(id)).to.equal(null);
    const registeredId = await registerFromStoredConfig({ config: configB, control: b.hypervisor, store: storeB, log }, m(diskB));
    expect(registeredId).to.equal(id);
    const vm = (await b.hypervisor.getVm(id))!;
    expect(vm.state).to.equal('Off');
    expect(vm.disks.map((d) => d.basePath)).to.deep.equal([diskB]);
    expect(vm.networkAdapters.map((n) => [n.macAddress, n.dynamicMac, n.switchName]), 'pinned static to the MAC it had').to.deep.equal([[original.macAddress, false, 'LAN']]);
    await b.hypervisor.startVm(id, { timeoutMs: 20_000, waitHeartbeat: true });
    expect((await b.hypervisor.getVm(id))!.networkAdapters[0]!.macAddress).to.equal(original.macAddress);

    // A change of the configuration (the MAC pinned here) after this agent started the VM: sent at the next cycle.
    await a.hypervisor.setStaticMac(id, {});
    shipper.markStarted('web1');
    await shipper.afterCycle(m(diskA), 1);
    expect(sent).to.have.length(4);
    expect((await storeB.current('web1'))!.record.Adapters[0]!.dynamicMac).to.equal(false);
    await b.hypervisor.stopVm(id, 'TurnOff', { timeoutMs: 20_000 });
  });

  it('refuses a registration the host cannot run (missing switch: VM_INCOMPATIBLE naming it), and an export of another VM or other disks (VM_CONFIG_INVALID)', async () => {
    const t = await makeSimFixture({ switchNames: ['Other'], hostMemoryBytes: 8 * 1024 * MiB });
    try {
      const diskA = join(a.workDir, 'db1.vhdx');
      const diskB = join(t.workDir, 'db1.vhdx');
      await createVhdx(diskA, { sizeBytes: 4 * MiB, subformat: 'dynamic', blockSizeBytes: MiB });
      await copyFile(diskA, diskB);
      const id = await createSimulatedVm(a.stateDir, { name: 'DB1', disks: [{ path: diskA, format: 'VHDX' }], switchNames: ['LAN'], macAddresses: ['00155D112233'] });
      const m = (localPath: string, vmId: string = id, name = 'db1.vhdx'): ResolvedModule => ({ name: 'db1', vmName: 'DB1', vmId, disks: [{ name, path: diskA, replicaPath: diskB, localPath }] }) as unknown as ResolvedModule;
      const configT = { dataDir: join(t.workDir, 'data'), peer: { Name: 'hva' }, self: { Name: 'hvc' }, modules: [m(diskB)] } as unknown as LoadedConfig;
      const store = new VmConfigStore(configT);
      const shipper = new VmConfigShipper({ config: { dataDir: join(a.workDir, 'data2'), peer: { Name: 'hvc' } } as unknown as LoadedConfig, hypervisor: a.hypervisor, log, connection: async () => linkTo(store, []), vmIdOf: async () => id });
      await shipper.afterCycle(m(diskA), 3);
      const err = await expectCode(registerFromStoredConfig({ config: configT, control: t.hypervisor, store, log }, m(diskB)), 'VM_INCOMPATIBLE');
      expect(err.message).to.include("'LAN'");
      expect(await t.hypervisor.getVm(id), 'nothing registered').to.equal(null);
      await createSimulatedHost(t.stateDir, { switchNames: ['Other', 'LAN'] });
      await expectCode(registerFromStoredConfig({ config: configT, control: createSimulatedHypervisor(t.stateDir), store, log }, m(diskB, '11111111-2222-4333-8444-555555555555')), 'VM_CONFIG_INVALID');
      await expectCode(registerFromStoredConfig({ config: configT, control: createSimulatedHypervisor(t.stateDir), store, log }, m(diskB, id, 'other.vhdx')), 'VM_CONFIG_INVALID');
      const ok = await registerFromStoredConfig({ config: configT, control: createSimulatedHypervisor(t.stateDir), store, log }, m(diskB));
      expect((await t.hypervisor.getVm(ok))!.networkAdapters[0]!.macAddress).to.equal('00155D112233');
    } finally {
      await t.cleanup();
    }
  });

  it('does not pin an exported MAC of all zeros (a VM never started there)', async () => {
    const calls: unknown[] = [];
    const vm = { id: 'x', networkAdapters: [{ name: 'Network Adapter', macAddress: '00155D000001', dynamicMac: true, switchName: 'LAN' }] };
    const control = { setStaticMac: async (_id: string, o: unknown) => (calls.push(o), vm) } as never;
    await pinExportedMacs(control, vm as never, [{ name: 'Network Adapter', macAddress: '000000000000', dynamicMac: true }], log);
    expect(calls).to.deep.equal([]);
    await pinExportedMacs(control, vm as never, [{ name: 'Network Adapter', macAddress: '00155D0000AA', dynamicMac: true }], log);
    expect(calls).to.deep.equal([{ adapterName: 'Network Adapter', mac: '00155D0000AA' }]);
  });
});
