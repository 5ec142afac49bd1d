import { expect } from 'chai';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DriverFixture, FixtureOptions } from '../contract';
import { GiB, MiB, T, expectCode, hostA, hostB, vmSpec as vm } from './helpers';

// Export, readiness, replica registration on a second host, and static MACs.

/** Registers the replica and static MAC cases. */
export function replicaCases(makeFixture: (o: FixtureOptions) => Promise<DriverFixture>): void {
  describe('export, readiness and replica registration', () => {
    let a: DriverFixture;
    let b: DriverFixture;
    before(async () => {
      a = await makeFixture(hostA);
      b = await makeFixture(hostB);
    });
    after(async () => {
      await a?.cleanup();
      await b?.cleanup();
    });

    async function replicaDisks(paths: string[], tag: string): Promise<string[]> {
      const dir = join(b.workDir, `replica ‘${tag}’ $x [1]`);
      await mkdir(dir, { recursive: true });
      const out: string[] = [];
      for (const [i, p] of paths.entries()) {
        const dest = join(dir, `disk ${i}.vhdx`);
        await copyFile(p, dest);
        out.push(dest);
      }
      return out;
    }

    it('registers the exported VM on the peer with the same id, Off, its disks at the given paths', async () => {
      const id = await a.createVm(vm('replica me', { switchName: 'LAN', macAddress: '00155D000001', disks: [{ sizeBytes: 2 * MiB, subformat: 'fixed' }, { sizeBytes: 2 * MiB, subformat: 'fixed' }] }));
      const src = (await a.hypervisor.getVm(id))!;
      const exported = await a.hypervisor.exportConfig(id, join(a.workDir, 'export one'), T);
      expect(exported.vmId).to.equal(id);
      expect(exported.files.length).to.be.greaterThan(0);
      const ready = await b.hypervisor.checkReadiness(exported.configDir, { memoryBytes: 512 * MiB, timeoutMs: 20_000 });
      expect(ready.canStart, JSON.stringify(ready.issues)).to.equal(true);
      const disks = await replicaDisks(src.disks.map((d) => d.basePath), 'one');
      const replica = await b.hypervisor.registerReplica(exported.configDir, disks, T);
      expect(replica).to.include({ id, name: 'replica me', state: 'Off', memoryBytes: 512 * MiB, processorCount: 2 });
      expect(replica.disks.map((d) => d.path)).to.deep.equal(disks);
      expect(replica.networkAdapters.map((n) => n.switchName)).to.deep.equal(['LAN']);
      expect(replica.networkAdapters[0]!.macAddress).to.equal('00155D000001');
      expect((await b.hypervisor.getVm(id))?.state).to.equal('Off');
    });

    it('refuses to register a VM whose switch the peer lacks, with VM_INCOMPATIBLE naming the switch', async () => {
      const id = await a.createVm(vm('needs dmz', { switchName: 'DMZ ‘prod’ "x"' }));
      const exported = await a.hypervisor.exportConfig(id, join(a.workDir, 'export two'), T);
      const ready = await b.hypervisor.checkReadiness(exported.configDir, { memoryBytes: 512 * MiB, timeoutMs: 20_000 });
      expect(ready.canStart).to.equal(false);
      expect(ready.issues.map((i) => i.kind)).to.include('MissingSwitch');
      const disks = await replicaDisks((await a.hypervisor.getVm(id))!.disks.map((d) => d.basePath), 'two');
      const err = (await expectCode(b.hypervisor.registerReplica(exported.configDir, disks, T), 'VM_INCOMPATIBLE')) as { details: { issues?: Array<{ kind: string; message: string }> } };
      const issue = err.details.issues?.find((i) => i.kind === 'MissingSwitch');
      expect(issue?.message).to.include('DMZ ‘prod’ "x"');
      expect(await b.hypervisor.getVm(id)).to.equal(null);
    });

    it('reports a memory shortage in the readiness check', async () => {
      const id = await a.createVm(vm('big'));
      const exported = await a.hypervisor.exportConfig(id, join(a.workDir, 'export three'), T);
      const host = await b.hypervisor.getHost();
      const ready = await b.hypervisor.checkReadiness(exported.configDir, { memoryBytes: host.freeMemoryBytes + GiB, timeoutMs: 20_000 });
      expect(ready.canStart).to.equal(false);
      expect(ready.issues.map((i) => i.kind)).to.include('Memory');
      expect(ready.freeMemoryBytes).to.equal(host.freeMemoryBytes);
    });
  });

  describe('static MAC', () => {
    let f: DriverFixture;
    before(async () => {
      f = await makeFixture(hostA);
    });
    after(async () => f?.cleanup());

    it('pins the current MAC of a VM whose MAC was dynamic', async () => {
      const id = await f.createVm(vm('dyn mac', { switchName: 'LAN' }));
      const pinned = await f.hypervisor.setStaticMac(id, {});
      expect(pinned.networkAdapters).to.have.length(1);
      expect(pinned.networkAdapters[0]!.dynamicMac).to.equal(false);
      expect(pinned.networkAdapters[0]!.macAddress).to.match(/^[0-9A-F]{12}$/);
      const again = await f.hypervisor.getVm(id);
      expect(again!.networkAdapters[0]).to.deep.include({ dynamicMac: false, macAddress: pinned.networkAdapters[0]!.macAddress });
    });

    it('sets the MAC it is given', async () => {
      const id = await f.createVm(vm('given mac', { switchName: 'LAN' }));
      const pinned = await f.hypervisor.setStaticMac(id, { mac: '00155DABCDEF' });
      expect(pinned.networkAdapters[0]).to.deep.include({ dynamicMac: false, macAddress: '00155DABCDEF' });
    });
  });
}
