import { expect } from 'chai';
import { join } from 'node:path';
import { z } from 'zod';
import { HypervDriver } from '../../../src/hypervisor/hyperv/driver';
import { expectCode, MiB, newVm, T } from './helpers';
import { makeMockHost, type MockHost } from './mock-fixture';

// Frozen views that must never be stranded (issue 12 item 3), and what each view's consistency is
// (item 4): views are named so a restarted agent finds its own; a freeze that fails after Hyper-V
// accepted CreateSnapshot releases what that call made, even when the job ends after the deadline.

const Snapshots = z.object({
  Vms: z.array(
    z.object({
      Id: z.string(),
      Snapshots: z.array(z.object({ InstanceID: z.string(), Name: z.string(), ConsistencyLevel: z.number(), GuestBackupType: z.string().nullable() })).nullable(),
    }),
  ),
});

describe('src/hypervisor/hyperv/driver (leftover views and consistency)', function () {
  this.timeout(120_000);
  let h: MockHost;
  before(async () => {
    h = await makeMockHost({ switchNames: ['LAN'], hostMemoryBytes: 64 * 1024 * MiB }, { scriptDirs: [join(__dirname, 'scripts')] });
  });
  after(async () => h?.cleanup());

  async function snapshotsOf(id: string): Promise<Array<{ InstanceID: string; Name: string; ConsistencyLevel: number; GuestBackupType: string | null }>> {
    const s = Snapshots.parse(await h.mock('GetState', {}));
    return s.Vms.find((v) => v.Id.toLowerCase() === id)!.Snapshots ?? [];
  }

  it('names every view vmmirror-view and releases those a restarted driver finds, but never one still held or another tool\'s', async () => {
    const a = await newVm(h, 'restart leftovers', { State: 'Running' });
    const held = await newVm(h, 'held view', { State: 'Running' });
    const orphan = await h.hypervisor.freeze(a, T);
    const names = (await snapshotsOf(a)).map((s) => s.Name);
    expect(names).to.have.length(1);
    expect(names[0]).to.match(/^vmmirror-view \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
    await h.guestWrite(a, 4096, 2048, 0x5a);
    const heldView = await h.hypervisor.freeze(held, T);

    const restarted = new HypervDriver({ runner: h.runner });
    expect(await restarted.releaseLeftoverViews(a, T)).to.deep.equal({ released: [orphan.viewId] });
    expect(await snapshotsOf(a)).to.deep.equal([]);
    expect((await h.readVirtual(orphan.disks[0]!.basePath, 4096, 2048)).equals(Buffer.alloc(2048, 0x5a)), 'guest writes merged').to.equal(true);
    expect(await restarted.releaseLeftoverViews(a, T), 'nothing left: a no-op').to.deep.equal({ released: [] });
    // The driver that holds a view does not call it a leftover; another driver (a restart) would.
    expect(await h.hypervisor.releaseLeftoverViews(held, T)).to.deep.equal({ released: [] });
    expect((await snapshotsOf(held)).map((s) => s.InstanceID)).to.deep.equal([heldView.viewId]);
    await heldView.release({ commit: false });

    const foreign = z.object({ InstanceID: z.string(), ElementName: z.string() }).parse(await h.runner.invoke('New-TestForeignSnapshot', { VmId: a }, z.unknown(), T));
    expect(foreign.ElementName.startsWith('vmmirror-view')).to.equal(false);
    expect(await restarted.releaseLeftoverViews(a, T)).to.deep.equal({ released: [] });
    expect((await snapshotsOf(a)).map((s) => s.InstanceID)).to.deep.equal([foreign.InstanceID]);
    // With another tool's checkpoint in place vmmirror refuses to freeze rather than touch it.
    await expectCode(h.hypervisor.freeze(a, T), 'VM_WRONG_STATE');
  });

  it('releases the snapshot of a freeze that timed out once the job ends, within the cleanup\'s own timeout', async () => {
    const id = await newVm(h, 'slow snapshot', { State: 'Running' });
    // The job ends 3.1 s after CreateSnapshot, which comes after the script's 3 s deadline began:
    // the freeze must time out. Its cleanup starts after that deadline with 3 s of its own, so it
    // sees the job end however long the script took to reach CreateSnapshot (up to 2.9 s).
    await h.mock('SetHost', { SnapshotJobDelayMs: 3100 });
    try {
      const d = await expectCode(h.hypervisor.freeze(id, { timeoutMs: 3000 }), 'VM_TIMEOUT');
      expect(d.leftoverViewsReleased).to.have.length(1);
      expect(d.leftoverJobsPending).to.deep.equal([]);
    } finally {
      await h.mock('SetHost', { SnapshotJobDelayMs: null });
    }
    expect(await snapshotsOf(id)).to.deep.equal([]);
    const vm = await h.hypervisor.getVm(id);
    expect(vm!.disks[0]!.path).to.equal(vm!.disks[0]!.basePath);
    await (await h.hypervisor.freeze(id, T)).release({ commit: false });
  });

  it('keeps a job still running past the cleanup\'s deadline pending, and releases its snapshot at the next releaseLeftoverViews', async () => {
    const id = await newVm(h, 'very slow snapshot', { State: 'Running' });
    // 0.6 s for the freeze and 0.6 s for its cleanup, against a job that takes 10 s.
    await h.mock('SetHost', { SnapshotJobDelayMs: 10_000 });
    let d: Record<string, unknown>;
    try {
      d = await expectCode(h.hypervisor.freeze(id, { timeoutMs: 600 }), 'VM_TIMEOUT');
    } finally {
      await h.mock('SetHost', { SnapshotJobDelayMs: null });
    }
    expect(d.leftoverViewsReleased).to.deep.equal([]);
    expect(d.leftoverJobsPending).to.have.length(1);
    // The snapshot exists (unnamed: the rename never ran), so only the remembered job can find it.
    expect(await snapshotsOf(id)).to.have.length(1);
    const r = await h.hypervisor.releaseLeftoverViews(id, { timeoutMs: 30_000 });
    expect(r.released).to.have.length(1);
    expect(await snapshotsOf(id)).to.deep.equal([]);
  });

  it('reports Application for a quiesced guest (GuestBackupType Copy), Crash when VSS fails or the VM is Off', async () => {
    const running = await newVm(h, 'quiesces', { State: 'Running' });
    const app = await h.hypervisor.freeze(running, T);
    try {
      expect(app.consistency).to.equal('Application');
      const [snap] = await snapshotsOf(running);
      expect(snap!.ConsistencyLevel).to.equal(1);
      expect(snap!.GuestBackupType).to.equal('2');
    } finally {
      await app.release({ commit: true });
    }
    await h.mock('SetHost', { GuestVssFails: true });
    try {
      const crash = await h.hypervisor.freeze(running, T);
      try {
        expect(crash.consistency).to.equal('Crash');
        expect((await snapshotsOf(running)).map((s) => s.ConsistencyLevel)).to.deep.equal([2]);
      } finally {
        await crash.release({ commit: true });
      }
    } finally {
      await h.mock('SetHost', { GuestVssFails: false });
    }
    const off = await newVm(h, 'powered off');
    const offView = await h.hypervisor.freeze(off, T);
    expect(offView.consistency).to.equal('Crash');
    await offView.release({ commit: false });
  });
});
