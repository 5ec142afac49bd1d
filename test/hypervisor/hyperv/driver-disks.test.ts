import { expect } from 'chai';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { seeded } from '../../helpers/seed';
import { expectCode, MiB, T } from './helpers';
import { makeMockHost, type MockHost } from './mock-fixture';

// Disks as Hyper-V presents them (issue 12 items 1 and 8): reference points name disks by the
// InstanceID of their Msvm_StorageAllocationSettingData (Microsoft:<guid>\...\L), and a drive the
// driver cannot read is reported on that drive instead of failing the listing of every VM.

const RefPoints = z.object({
  Vms: z.array(z.object({ Id: z.string(), ReferencePoints: z.array(z.object({ VirtualDiskIdentifiers: z.array(z.string()) })).nullable() })),
});

describe('src/hypervisor/hyperv/driver (disks as Hyper-V names them)', function () {
  this.timeout(120_000);
  let h: MockHost;
  before(async () => {
    h = await makeMockHost({ switchNames: ['LAN'], hostMemoryBytes: 64 * 1024 * MiB });
  });
  after(async () => h?.cleanup());

  it('pairs each RCT id with its own disk through the SASD instance ID, so changes land on the right disk', async () => {
    const disks = [0, 1, 2].map((i) => ({ Path: join(h.workDir, `three-${i}.vhdx`), SizeBytes: 4 * MiB, Subformat: 'Dynamic' }));
    const id = await h.createVmRaw({ Name: 'three disks', State: 'Running', Disks: disks, Adapters: [{ SwitchName: 'LAN' }] });
    const refs = await (await h.hypervisor.freeze(id, T)).release({ commit: true });
    expect(refs.map((r) => r.basePath)).to.deep.equal(disks.map((d) => d.Path));
    const state = RefPoints.parse(await h.mock('GetState', {}));
    const ids = state.Vms.find((v) => v.Id.toLowerCase() === id)!.ReferencePoints![0]!.VirtualDiskIdentifiers;
    for (const x of ids) expect(x).to.match(/^Microsoft:[0-9A-F-]{36}\\[0-9A-F-]{36}\\0\\\d+\\L$/);
    // One write per disk at a seeded offset: each disk's ranges must hold its own write only.
    const r = seeded('hyperv-sasd-pairing');
    const offsets = disks.map(() => r.int(0, 4 * MiB / 512 - 8) * 512);
    for (const [i, off] of offsets.entries()) await h.guestWrite(id, off, 4096, 0x21 + i, i);
    const view = await h.hypervisor.freeze(id, T);
    try {
      const changes = await h.hypervisor.changedRanges(id, view, refs, T);
      expect(changes.map((c) => c.ranges)).to.deep.equal(offsets.map((o) => [{ offset: o, length: 4096 }]));
    } finally {
      await view.release({ commit: false });
    }
  });

  it('lists a VM with a pass-through, a busy and a missing disk, marking only those drives, and refuses to freeze it', async () => {
    const good = join(h.workDir, 'mixed-good.vhdx');
    const missing = join(h.workDir, 'mixed-missing.vhdx');
    const busy = join(h.workDir, 'mixed-busy.vhdx');
    const id = await h.createVmRaw({
      Name: 'mixed drives',
      Disks: [
        { Path: good, SizeBytes: 4 * MiB },
        { PassThrough: 3, SizeBytes: 8 * MiB },
        { Path: busy, SizeBytes: 4 * MiB, InUse: true },
        { Path: missing, SizeBytes: 4 * MiB },
      ],
      Adapters: [{ SwitchName: 'LAN' }],
    });
    await rm(missing);
    const vms = await h.hypervisor.listVms();
    const vm = vms.find((v) => v.id === id)!;
    expect(vm.disks.map((d) => d.problem === undefined)).to.deep.equal([true, false, false, false]);
    expect(vm.disks[0]!.sizeBytes).to.equal(4 * MiB);
    expect(vm.disks[1]!.problem).to.match(/pass-through/);
    expect(vm.disks[2]!.problem).to.match(/being used by another process/);
    expect(vm.disks[3]!.problem).to.match(/cannot find the file/);
    expect((await h.hypervisor.getVm(id))!.disks.map((d) => d.sizeBytes)).to.deep.equal([4 * MiB, 0, 0, 0]);
    const d = await expectCode(h.hypervisor.freeze(id, T), 'VM_WRONG_STATE');
    expect(String((d.scriptDetails as { Problem?: string }).Problem)).to.match(/pass-through/);
  });
});
