import { expect } from 'chai';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasCode, type ErrorCode } from '../../../src/errors';
import { createSimulatedVm } from '../../../src/hypervisor/simulated';
import { makeSimFixture, type SimFixture } from './fixture';

const MiB = 1024 * 1024;
const T = { timeoutMs: 20_000 };

async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<{ details: Record<string, unknown> }> {
  try {
    await p;
  } catch (err) {
    expect(hasCode(err, code), String(err)).to.equal(true);
    return err as { details: Record<string, unknown> };
  }
  return expect.fail(`expected ${code}`);
}

describe('src/hypervisor/simulated/replica', function () {
  this.timeout(60_000);
  let a: SimFixture;
  let b: SimFixture;
  before(async () => {
    a = await makeSimFixture({ switchNames: ['LAN'], hostMemoryBytes: 8 * 1024 * MiB });
    b = await makeSimFixture({ switchNames: ['LAN'], hostMemoryBytes: 2 * 1024 * MiB });
  });
  after(async () => {
    await a?.cleanup();
    await b?.cleanup();
  });

  async function exportWithCopies(id: string, tag: string): Promise<{ configDir: string; disks: string[] }> {
    const exported = await a.hypervisor.exportConfig(id, join(a.workDir, `export-${tag}`), T);
    const disks = [];
    for (const [i, d] of (await a.hypervisor.getVm(id))!.disks.entries()) {
      const dest = join(b.workDir, `${tag}-${i}.vhdx`);
      await copyFile(d.basePath, dest);
      disks.push(dest);
    }
    return { configDir: exported.configDir, disks };
  }

  it('registers again over an Off replica (new disk paths, same id) but refuses while the replica runs', async () => {
    const id = await createSimulatedVm(a.stateDir, { name: 'again', disks: [{ sizeBytes: 1 * MiB, subformat: 'fixed' }], switchNames: ['LAN'] });
    const first = await exportWithCopies(id, 'first');
    await b.hypervisor.registerReplica(first.configDir, first.disks, T);
    const second = await exportWithCopies(id, 'second');
    const again = await b.hypervisor.registerReplica(second.configDir, second.disks, T);
    expect(again.disks.map((d) => d.path)).to.deep.equal(second.disks);
    expect((await b.hypervisor.listVms()).filter((v) => v.id === id)).to.have.length(1);
    await b.hypervisor.startVm(id, { ...T, waitHeartbeat: true });
    await expectCode(b.hypervisor.registerReplica(first.configDir, first.disks, T), 'VM_WRONG_STATE');
    expect((await b.hypervisor.getVm(id))!.disks.map((d) => d.path)).to.deep.equal(second.disks);
    await b.hypervisor.stopVm(id, 'TurnOff', T);
  });

  it('reports a missing disk, a wrong disk count, a too-new configuration version and too many vCPUs', async () => {
    const id = await createSimulatedVm(a.stateDir, { name: 'odd', disks: [{ sizeBytes: 1 * MiB, subformat: 'fixed' }], processorCount: 64, configurationVersion: '254.0' });
    const { configDir, disks } = await exportWithCopies(id, 'odd');
    const ready = await b.hypervisor.checkReadiness(configDir, { memoryBytes: 512 * MiB, timeoutMs: 20_000 });
    expect(ready.issues.map((i) => i.kind).sort()).to.deep.equal(['ConfigurationVersion', 'Processor']);
    const err = await expectCode(b.hypervisor.registerReplica(configDir, [join(b.workDir, 'no such disk.vhdx')], T), 'VM_INCOMPATIBLE');
    expect((err.details.issues as Array<{ kind: string }>).map((i) => i.kind).sort()).to.deep.equal(['ConfigurationVersion', 'Other', 'Processor']);
    const err2 = await expectCode(b.hypervisor.registerReplica(configDir, [...disks, ...disks], T), 'VM_INCOMPATIBLE');
    expect(JSON.stringify(err2.details.issues)).to.include('1 disks; 2 paths');
    expect(await b.hypervisor.getVm(id)).to.equal(null);
  });

  it('refuses a MAC that is not 12 hex digits, and keeps the old one', async () => {
    const id = await createSimulatedVm(a.stateDir, { name: 'mac', disks: [], switchNames: ['LAN'], macAddresses: ['00155D000042'] });
    await expectCode(a.hypervisor.setStaticMac(id, { mac: "00:15:5D'; rm -rf /" }), 'USAGE');
    expect((await a.hypervisor.getVm(id))!.networkAdapters[0]!.macAddress).to.equal('00155D000042');
  });
});
