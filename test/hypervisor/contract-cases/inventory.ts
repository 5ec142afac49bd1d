import { expect } from 'chai';
import { join } from 'node:path';
import type { VmId } from '../../../src/hypervisor/types';
import type { DriverFixture, FixtureOptions } from '../contract';
import { GiB, MiB, T, UNKNOWN_ID, expectCode, hostA, vmSpec as vm } from './helpers';

// Listing, getting and finding VMs; names are data; unknown ids.

/** Registers the inventory cases. */
export function inventoryCases(makeFixture: (o: FixtureOptions) => Promise<DriverFixture>): void {
  describe('inventory', () => {
    let f: DriverFixture;
    const ids: Record<string, VmId> = {};
    const evil = "x'; Remove-Item -Recurse -Force $HOME; ' ‘x’ – — ünïcødé $(whoami) `n";
    before(async () => {
      f = await makeFixture(hostA);
      ids.star = await f.createVm(vm('web*'));
      ids.web1a = await f.createVm(vm('web1', { switchName: 'LAN', macAddress: '00155D0A0B0C' }));
      ids.web1b = await f.createVm(vm('web1', { memoryBytes: 1 * GiB, processorCount: 4 }));
      ids.evil = await f.createVm(vm(evil));
    });
    after(async () => f?.cleanup());

    it('lists every created VM with its id, name, Off state, memory, vCPUs, disks and adapters', async () => {
      const all = await f.hypervisor.listVms();
      for (const id of Object.values(ids)) expect(all.map((v) => v.id)).to.include(id);
      const b = all.find((v) => v.id === ids.web1b)!;
      expect(b).to.include({ name: 'web1', state: 'Off', memoryBytes: 1 * GiB, processorCount: 4 });
      expect(b.disks).to.have.length(1);
      expect(b.disks[0]).to.include({ format: 'VHDX', type: 'Fixed', sizeBytes: 4 * MiB });
      const a = all.find((v) => v.id === ids.web1a)!;
      expect(a.networkAdapters).to.have.length(1);
      expect(a.networkAdapters[0]).to.include({ macAddress: '00155D0A0B0C', switchName: 'LAN' });
    });

    it('gets a VM by its id and returns null for an unknown GUID', async () => {
      const got = await f.hypervisor.getVm(ids.web1a);
      expect(got?.id).to.equal(ids.web1a);
      expect(got?.name).to.equal('web1');
      expect(ids.web1a).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(await f.hypervisor.getVm(UNKNOWN_ID)).to.equal(null);
    });

    it('finds VMs by exact name: two VMs named web1 both, and never the VM named web*', async () => {
      const web1 = await f.hypervisor.findVmsByName('web1');
      expect(web1.map((v) => v.id).sort()).to.deep.equal([ids.web1a, ids.web1b].sort());
      const star = await f.hypervisor.findVmsByName('web*');
      expect(star.map((v) => v.id)).to.deep.equal([ids.star]);
      expect(await f.hypervisor.findVmsByName('w*')).to.deep.equal([]);
      expect(await f.hypervisor.findVmsByName('WEB1 ')).to.deep.equal([]);
    });

    it('keeps a name with quotes, dollars and unicode as plain data', async () => {
      const found = await f.hypervisor.findVmsByName(evil);
      expect(found.map((v) => v.id)).to.deep.equal([ids.evil]);
      expect(found[0]!.name).to.equal(evil);
    });

    it('fails every operation on an unknown GUID with VM_NOT_FOUND', async () => {
      await expectCode(f.hypervisor.startVm(UNKNOWN_ID, { ...T, waitHeartbeat: false }), 'VM_NOT_FOUND');
      await expectCode(f.hypervisor.stopVm(UNKNOWN_ID, 'TurnOff', T), 'VM_NOT_FOUND');
      await expectCode(f.hypervisor.freeze(UNKNOWN_ID, T), 'VM_NOT_FOUND');
      await expectCode(f.hypervisor.exportConfig(UNKNOWN_ID, join(f.workDir, 'nope'), T), 'VM_NOT_FOUND');
      await expectCode(f.hypervisor.setStaticMac(UNKNOWN_ID, {}), 'VM_NOT_FOUND');
    });
  });
}
