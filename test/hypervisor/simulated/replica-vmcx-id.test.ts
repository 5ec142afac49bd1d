import { expect } from 'chai';
import { copyFile, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasCode, type ErrorCode } from '../../../src/errors';
import { createSimulatedVm } from '../../../src/hypervisor/simulated';
import { makeSimFixture, type SimFixture } from './fixture';

const MiB = 1024 * 1024;
const T = { timeoutMs: 20_000 };

async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<Error> {
  const err = await p.then(() => null, (e: unknown) => e as Error);
  expect(err, `expected ${code}`).to.not.equal(null);
  expect(hasCode(err, code), String(err)).to.equal(true);
  return err!;
}

// Everything before registration (the store's name checks, the lookup of a VM already here) goes
// by the .vmcx's file name, `<VmId>.vmcx`; registering goes by its contents. A file whose contents
// name another VM once rewrote that VM (here an Off victim) onto the module's copy. The simulated
// driver refuses the mismatch (VM_CONFIG_INVALID) before anything is changed.

describe('src/hypervisor/simulated/replica: a .vmcx whose contents name another VM', function () {
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

  it('refuses to register (or judge) it, the victim VM untouched, nothing registered; the honest export (any case of its name) registers', async () => {
    const victim = await createSimulatedVm(b.stateDir, { name: 'victim', disks: [{ sizeBytes: 1 * MiB, subformat: 'fixed' }], switchNames: ['LAN'] });
    const victimBefore = await b.hypervisor.getVm(victim);
    const id = await createSimulatedVm(a.stateDir, { name: 'web1', disks: [{ sizeBytes: 1 * MiB, subformat: 'fixed' }], switchNames: ['LAN'] });
    const copy = join(b.workDir, 'web1-copy.vhdx');
    await copyFile((await a.hypervisor.getVm(id))!.disks[0]!.basePath, copy);
    const listBefore = (await b.hypervisor.listVms()).map((v) => v.id).sort();

    for (const other of [victim, '7c9e6679-7425-40de-944b-e07fc1f90ae7']) {
      const { configDir } = await a.hypervisor.exportConfig(id, join(a.workDir, `export-${other}`), T);
      const file = join(configDir, 'Virtual Machines', `${id}.vmcx`);
      const doc = JSON.parse(await readFile(file, 'utf8')) as { vm: { id: string } };
      doc.vm.id = other; // the contents name another VM; the file name still says web1's id
      await writeFile(file, JSON.stringify(doc));
      const err = await expectCode(b.hypervisor.registerReplica(configDir, [copy], T), 'VM_CONFIG_INVALID');
      expect(err.message).to.include(other);
      await expectCode(b.hypervisor.checkReadiness(configDir, { memoryBytes: 1, timeoutMs: 20_000 }), 'VM_CONFIG_INVALID');
      expect(await b.hypervisor.getVm(victim), 'the victim keeps its own disk').to.deep.equal(victimBefore);
      expect((await b.hypervisor.listVms()).map((v) => v.id).sort(), 'nothing registered').to.deep.equal(listBefore);
    }

    // The honest export, its file named in upper case as Hyper-V writes it: registered with web1's id over the copy.
    const { configDir } = await a.hypervisor.exportConfig(id, join(a.workDir, 'export-honest'), T);
    await rename(join(configDir, 'Virtual Machines', `${id}.vmcx`), join(configDir, 'Virtual Machines', `${id.toUpperCase()}.vmcx`));
    const vm = await b.hypervisor.registerReplica(configDir, [copy], T);
    expect(vm.id).to.equal(id);
    expect(vm.disks.map((d) => d.path)).to.deep.equal([copy]);
    expect(await b.hypervisor.getVm(victim)).to.deep.equal(victimBefore);
  });
});
