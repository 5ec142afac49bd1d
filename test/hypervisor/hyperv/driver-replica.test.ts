import { expect } from 'chai';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { HypervDriver } from '../../../src/hypervisor/hyperv/driver';
import { expectCode, MiB, newVm, T } from './helpers';
import { makeMockHost, type MockHost } from './mock-fixture';

// Export and registration as a real host runs them (issue 12 items 5 and 10): never an export
// while a frozen view is open; a replica VM already registered is adopted when its disks are the
// module's copies and refused (VM_ALREADY_REGISTERED) otherwise.

const HostState = z.object({ Host: z.object({ ExportsDuringView: z.number().nullable().optional() }), Vms: z.array(z.object({ Id: z.string() })) });

describe('src/hypervisor/hyperv/driver (export and registration)', function () {
  this.timeout(120_000);
  let a: MockHost;
  let b: MockHost;
  before(async () => {
    a = await makeMockHost({ switchNames: ['LAN'], hostMemoryBytes: 64 * 1024 * MiB });
    b = await makeMockHost({ switchNames: ['LAN'], hostMemoryBytes: 64 * 1024 * MiB });
  });
  after(async () => {
    await a?.cleanup();
    await b?.cleanup();
  });

  it('never exports a configuration while a frozen view is open, whoever holds the view', async () => {
    const id = await newVm(a, 'export during view', { State: 'Running' });
    const view = await a.hypervisor.freeze(id, T);
    try {
      const mine = await expectCode(a.hypervisor.exportConfig(id, join(a.workDir, 'exp-open-1'), T), 'VM_WRONG_STATE');
      expect(mine.openViews).to.deep.equal([view.viewId]);
      // A driver that does not know of the view (another process) is stopped by the script.
      const other = new HypervDriver({ runner: a.runner });
      const theirs = await expectCode(other.exportConfig(id, join(a.workDir, 'exp-open-2'), T), 'VM_WRONG_STATE');
      expect((theirs.scriptDetails as { OpenViews: string[] }).OpenViews).to.deep.equal([view.viewId]);
    } finally {
      await view.release({ commit: true });
    }
    // The mock refuses (and counts) an export during a view: none reached it.
    expect(HostState.parse(await a.mock('GetState', {})).Host.ExportsDuringView ?? 0).to.equal(0);
    const exported = await a.hypervisor.exportConfig(id, join(a.workDir, 'exp-after'), T);
    expect(exported.files.some((f) => f.endsWith('.vmcx'))).to.equal(true);
  });

  it('adopts an already-registered replica whose disks are the given copies, refuses one with other disks, and checks the disk count', async () => {
    const id = await newVm(a, 'replica twice');
    const exported = await a.hypervisor.exportConfig(id, join(a.workDir, 'exp-twice'), T);
    const source = (await a.hypervisor.getVm(id))!.disks[0]!.basePath;
    const copy = join(b.workDir, 'replica-twice.vhdx');
    const other = join(b.workDir, 'someone-else.vhdx');
    await copyFile(source, copy);
    await copyFile(source, other);

    await expectCode(b.hypervisor.registerReplica(exported.configDir, [], T), 'VM_INCOMPATIBLE');
    const first = await b.hypervisor.registerReplica(exported.configDir, [copy], T);
    expect(first.id).to.equal(id);
    expect(first.disks.map((d) => d.path)).to.deep.equal([copy]);
    // A retry (e.g. after a crash between import and the record of it) adopts the same VM.
    const again = await b.hypervisor.registerReplica(exported.configDir, [copy], T);
    expect(again.id).to.equal(id);
    expect(again.disks.map((d) => d.path)).to.deep.equal([copy]);
    expect(HostState.parse(await b.mock('GetState', {})).Vms.filter((v) => v.Id.toLowerCase() === id)).to.have.length(1);

    const d = await expectCode(b.hypervisor.registerReplica(exported.configDir, [other], T), 'VM_ALREADY_REGISTERED');
    expect((d.scriptDetails as { DiskPaths: string[] }).DiskPaths).to.deep.equal([copy]);
    expect((await b.hypervisor.getVm(id))!.disks.map((x) => x.path), 'nothing changed').to.deep.equal([copy]);
  });
});
