import { expect } from 'chai';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { EffectRunner } from '../../src/agent/cluster/effects';
import { registerFromStoredConfig } from '../../src/agent/vm-config-register';
import { VmConfigStore } from '../../src/agent/vm-config-store';
import type { LoadedConfig, ResolvedModule } from '../../src/config';
import { createSimulatedVm } from '../../src/hypervisor/simulated';
import type { Hypervisor } from '../../src/hypervisor/types';
import { componentLogger } from '../../src/log';
import { makeSimFixture, type SimFixture } from '../hypervisor/simulated/fixture';
import { createVhdx } from '../helpers/qemu';
import { MiB, adversary, body, expectCode, send } from './vm-config-adversarial-helpers';

const log = componentLogger('test');

// Registration at a takeover (docs/cluster.md "Registering the replica") from exports that do not
// fit: a VM of the export's id already here over other disks, a disk named twice, the export's own
// disk paths, a commit racing the registration, and an id known from earlier whose VM was removed.

describe('vm-config adversarial: takeover', function () {
  this.timeout(60_000);
  const { transfer, bytes } = adversary('vm-config adversarial: takeover');

  describe('takeover: the stored export must fit the module, and nothing is registered over the wrong files', () => {
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
    const disk = async (host: SimFixture, name: string): Promise<string> => {
      const path = join(host.workDir, name);
      await createVhdx(path, { sizeBytes: 2 * MiB, subformat: 'dynamic', blockSizeBytes: MiB });
      return path;
    };
    /** The VM's real export from host a, its .vmcx optionally tampered with, stored on b as the owner would send it. */
    async function exportToB(store: VmConfigStore, id: string, disks: string[], tamper: (vm: Record<string, unknown>) => void = () => undefined): Promise<string> {
      const out = join(a.workDir, `export-${transfer()}`);
      const e = await a.hypervisor.exportConfig(id, out, { timeoutMs: 10_000 });
      const doc = JSON.parse(await readFile(join(e.configDir, e.files[0]!), 'utf8')) as { vm: Record<string, unknown> };
      tamper(doc.vm);
      const f = { name: `Virtual Machines/${id}.vmcx`, data: Buffer.from(JSON.stringify(doc)) };
      const t = transfer();
      await send(store, t, [f]);
      await store.commit(body(t, [f], { vmId: id, disks }));
      return t;
    }
    const moduleOn = (localPaths: Record<string, string>, extra: Partial<ResolvedModule> = {}): ResolvedModule =>
      ({ name: 'web1', vmName: 'WEB1', disks: Object.entries(localPaths).map(([name, localPath]) => ({ name, localPath })), ...extra }) as unknown as ResolvedModule;
    const configB = (m: ResolvedModule): LoadedConfig => ({ dataDir: join(b.workDir, 'data'), self: { Name: 'hvb' }, peer: { Name: 'hva' }, modules: [m] }) as unknown as LoadedConfig;

    it('a VM with the export\'s id already registered here over other disks (a module found by its name): VM_ALREADY_REGISTERED, that VM untouched', async () => {
      const otherDisk = await disk(b, 'other.vhdx');
      const clash = await createSimulatedVm(b.stateDir, { name: 'OTHER', disks: [{ path: otherDisk, format: 'VHDX' }], switchNames: ['LAN'] });
      const id = await createSimulatedVm(a.stateDir, { id: clash, name: 'WEB1', disks: [{ path: await disk(a, 'web1.vhdx'), format: 'VHDX' }], switchNames: ['LAN'] });
      const m = moduleOn({ 'web1.vhdx': await disk(b, 'copy of web1.vhdx') });
      const store = new VmConfigStore(configB(m));
      await exportToB(store, id, ['web1.vhdx']);
      await expectCode(registerFromStoredConfig({ config: configB(m), control: b.hypervisor, store, log }, m), 'VM_ALREADY_REGISTERED');
      const vm = (await b.hypervisor.getVm(clash))!;
      expect([vm.name, vm.disks.map((d) => d.basePath)]).to.deep.equal(['OTHER', [otherDisk]]);
      // A VM of another id over this host's copy (registered by hand): a second VM on the same files is refused too.
      const copy = await disk(b, 'hand copy.vhdx');
      const byHand = await createSimulatedVm(b.stateDir, { name: 'BY HAND', disks: [{ path: copy, format: 'VHDX' }], switchNames: ['LAN'] });
      const own = await createSimulatedVm(a.stateDir, { name: 'WEB2', disks: [{ path: await disk(a, 'web2.vhdx'), format: 'VHDX' }], switchNames: ['LAN'] });
      const m2 = moduleOn({ 'web2.vhdx': copy }, { vmId: own });
      const store2 = new VmConfigStore({ ...configB(m2), dataDir: join(b.workDir, 'data2') });
      await exportToB(store2, own, ['web2.vhdx']);
      const err = await expectCode(registerFromStoredConfig({ config: configB(m2), control: b.hypervisor, store: store2, log }, m2), 'VM_ALREADY_REGISTERED');
      expect(err.message).to.include(byHand);
      expect(await b.hypervisor.getVm(own), 'nothing registered').to.equal(null);
    });

    it('an export naming one disk twice, or a disk path of its own: refused or ignored, the VM only ever gets this host\'s copies', async () => {
      const id = await createSimulatedVm(a.stateDir, { name: 'WEB1', disks: [{ path: await disk(a, 'os.vhdx'), format: 'VHDX' }, { path: await disk(a, 'data.vhdx'), format: 'VHDX' }], switchNames: ['LAN'] });
      const copies = { 'os.vhdx': await disk(b, 'os copy.vhdx'), 'data.vhdx': await disk(b, 'data copy.vhdx') };
      const m = moduleOn(copies, { vmId: id });
      const store = new VmConfigStore(configB(m));
      await exportToB(store, id, ['os.vhdx', 'os.vhdx']);
      await expectCode(registerFromStoredConfig({ config: configB(m), control: b.hypervisor, store, log }, m), 'VM_CONFIG_INVALID');
      expect(await b.hypervisor.getVm(id), 'nothing registered').to.equal(null);
      // The .vmcx points its disks elsewhere (as every export does: the runner's paths; here a hostile one).
      await exportToB(store, id, ['os.vhdx', 'data.vhdx'], (vm) => {
        for (const d of vm.disks as Array<{ path: string }>) d.path = '/etc/passwd';
      });
      expect(await registerFromStoredConfig({ config: configB(m), control: b.hypervisor, store, log }, m)).to.equal(id);
      expect((await b.hypervisor.getVm(id))!.disks.map((d) => d.basePath)).to.deep.equal([copies['os.vhdx'], copies['data.vhdx']]);
    });

    it('a commit landing between the read of the stored export and its pin: the registration uses a folder that still exists, and keeps it', async () => {
      const id = await createSimulatedVm(a.stateDir, { name: 'WEB1', disks: [{ path: await disk(a, 'race.vhdx'), format: 'VHDX' }], switchNames: ['LAN'] });
      const m = moduleOn({ 'race.vhdx': await disk(b, 'race copy.vhdx') }, { vmId: id });
      const store = new VmConfigStore(configB(m));
      const first = await exportToB(store, id, ['race.vhdx']);
      const f = { name: `Virtual Machines/${id}.vmcx`, data: bytes(50) };
      const t = transfer();
      await send(store, t, [f]);
      const registering = registerFromStoredConfig({ config: configB(m), control: b.hypervisor, store, log }, m);
      const committing = store.commit(body(t, [f], { vmId: id, disks: ['race.vhdx'] })); // queued right behind the registration's read
      expect(await registering).to.equal(id);
      await committing;
      expect((await store.current('web1'))!.record.Transfer).to.equal(t);
      expect(await readdir(join(b.workDir, 'data/replicas/web1/vm-config', first, 'Virtual Machines')), 'the registered VM\'s folder is kept').to.have.length(1);
    });
  });

  describe('takeover: an id known from earlier whose VM was removed since', () => {
    it('promote looks again and registers from the export; a start that finds no VM fails VM_NOT_FOUND instead of reporting a VM that never ran', async () => {
      const calls: string[] = [];
      const events: Array<{ type: string; effect?: string; code?: string }> = [];
      let registered = false;
      const info = { id: 'vm-1', name: 'WEB1', state: 'Off', networkAdapters: [], disks: [] };
      const control = {
        getVm: async () => (registered ? { ...info } : null),
        startVm: async () => (calls.push('startVm'), { ...info, state: 'Running' }),
        setStaticMac: async () => ({ ...info }),
      } as unknown as Hypervisor;
      const runner = (register: boolean): EffectRunner =>
        new EffectRunner({
          config: { modules: [{ name: 'web1', policies: { startTimeoutSeconds: 1 } }], self: { Name: 'hvb' } } as unknown as LoadedConfig,
          control, witness: null, recordsDir: '/nonexistent', log, dispatch: (e) => events.push(e as never),
          vmIdOf: async () => 'vm-1', // cached when the agent started, before the VM was removed
          releaseReplica: async () => ({ generation: 4 }), beforeStart: async () => undefined,
          resync: async () => ({ generation: 1 }), failback: async () => ({ epoch: 2, generation: 1 }),
          ...(register ? { registerReplica: async () => (calls.push('register'), (registered = true), 'vm-1') } : {}),
        });
      const outcome = (): string[] => events.splice(0).map((e) => `${e.type}:${e.effect}${e.code !== undefined ? `:${e.code}` : ''}`);
      let r = runner(false);
      r.enqueue([{ type: 'promote-replica', module: 'web1' }, { type: 'start-vm', module: 'web1' }]);
      await r.drain('web1');
      expect(outcome()).to.deep.equal(['effect-failed:promote-replica:VM_NOT_REGISTERED', 'effect-failed:start-vm:VM_NOT_FOUND']);
      r = runner(true);
      r.enqueue([{ type: 'promote-replica', module: 'web1' }, { type: 'start-vm', module: 'web1' }]);
      await r.drain('web1');
      expect(outcome()).to.deep.equal(['effect-done:promote-replica', 'effect-done:start-vm']);
      expect(calls).to.deep.equal(['register', 'startVm']);
    });
  });
});
