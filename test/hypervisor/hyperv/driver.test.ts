import { expect } from 'chai';
import { join } from 'node:path';
import { z } from 'zod';
import { hasCode, type ErrorCode } from '../../../src/errors';
import { HypervDriver } from '../../../src/hypervisor/hyperv/driver';
import { createHypervisor } from '../../../src/hypervisor/registry';
import { seeded } from '../../helpers/seed';
import { makeMockHost, type MockHost } from './mock-fixture';

// The Hyper-V driver on the mock module, beyond the shared contract: the mock's Hyper-V
// behaviours that the scripts must handle (partial RCT answers, wrong states, missing heartbeat,
// RCT failures, pruning, duplicate names, MAC rules).

const MiB = 1024 * 1024;
const T = { timeoutMs: 20_000 };

async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    expect(hasCode(err, code), `expected ${code}, got ${String(err)}`).to.equal(true);
    return (err as { details: Record<string, unknown> }).details;
  }
  return expect.fail(`expected ${code}, but the call succeeded`);
}

const MockState = z.object({
  Vms: z.array(z.object({ Id: z.string(), ReferencePoints: z.array(z.unknown()).nullable().optional() })),
});

describe('src/hypervisor/hyperv/driver', function () {
  this.timeout(120_000);
  let h: MockHost;
  before(async () => {
    h = await makeMockHost({ switchNames: ['LAN'], hostMemoryBytes: 64 * 1024 * MiB });
  });
  after(async () => h?.cleanup());

  async function newVm(name: string, extra: Record<string, unknown> = {}): Promise<string> {
    const n = name.replace(/[^a-z0-9]/gi, '_');
    return h.createVmRaw({
      Name: name,
      Disks: [{ Path: join(h.workDir, `${n}-${Date.now()}.vhdx`), SizeBytes: 4 * MiB, Subformat: 'Dynamic' }],
      Adapters: [{ SwitchName: 'LAN' }],
      ...extra,
    });
  }

  describe('changed ranges', () => {
    it('loops over partial RCT answers and returns the exact union of the writes', async () => {
      await h.mock('SetHost', { RctChunkBytes: 192 * 1024 });
      const id = await newVm('rct chunks', { State: 'Running' });
      const v1 = await h.hypervisor.freeze(id, T);
      const refs = await v1.release({ commit: true });
      const r = seeded('hyperv-rct-chunks');
      const writes: Array<{ offset: number; length: number }> = [];
      for (let i = 0; i < 10; i++) {
        const length = r.int(1, 700) * 512;
        const offset = r.int(0, (4 * MiB - length) / 512) * 512;
        writes.push({ offset, length });
        await h.guestWrite(id, offset, length, r.int(1, 255));
      }
      // Two overlapping writes across a chunk boundary, and one at the very end of the disk.
      for (const w of [{ offset: 190 * 1024, length: 8192 }, { offset: 194 * 1024, length: 4096 }, { offset: 4 * MiB - 512, length: 512 }]) {
        writes.push(w);
        await h.guestWrite(id, w.offset, w.length, 7);
      }
      const v2 = await h.hypervisor.freeze(id, T);
      try {
        const [changes] = await h.hypervisor.changedRanges(id, v2, refs, T);
        const expected = byteSet(writes);
        const got = byteSet(changes!.ranges);
        expect(got.size).to.equal(expected.size);
        for (const b of expected) expect(got.has(b), `byte-sector ${b}`).to.equal(true);
        for (let i = 1; i < changes!.ranges.length; i++) {
          const prev = changes!.ranges[i - 1]!;
          expect(changes!.ranges[i]!.offset, 'sorted and merged').to.be.greaterThan(prev.offset + prev.length);
        }
      } finally {
        await v2.release({ commit: false });
        await h.mock('SetHost', { RctChunkBytes: MiB });
      }
    });

    it('reports RCT_UNAVAILABLE when the platform fails, for a pruned reference, and for a configuration version below 6.2', async () => {
      const id = await newVm('rct fails', { State: 'Running' });
      const refs1 = await (await h.hypervisor.freeze(id, T)).release({ commit: true });
      const refs2 = await (await h.hypervisor.freeze(id, T)).release({ commit: true });
      const refs3 = await (await h.hypervisor.freeze(id, T)).release({ commit: true });
      await h.hypervisor.pruneReferences(id, refs3);
      const state = MockState.parse(await h.mock('GetState', {}));
      expect(state.Vms.find((v) => v.Id.toLowerCase() === id)!.ReferencePoints).to.have.length(1);
      const view = await h.hypervisor.freeze(id, T);
      try {
        expect((await h.hypervisor.changedRanges(id, view, refs3, T))[0]!.ranges).to.deep.equal([]);
        await expectCode(h.hypervisor.changedRanges(id, view, refs1, T), 'RCT_UNAVAILABLE');
        await expectCode(h.hypervisor.changedRanges(id, view, refs2, T), 'RCT_UNAVAILABLE');
        await expectCode(h.hypervisor.changedRanges(id, view, [], T), 'RCT_UNAVAILABLE');
        await h.mock('SetHost', { RctFail: true });
        const d = await expectCode(h.hypervisor.changedRanges(id, view, refs3, T), 'RCT_UNAVAILABLE');
        expect(String(d.scriptDetails && (d.scriptDetails as { PlatformMessage?: string }).PlatformMessage)).to.include('32768');
      } finally {
        await h.mock('SetHost', { RctFail: false });
        await view.release({ commit: false });
      }
      const old = await newVm('old version', { State: 'Running', Version: '5.0' });
      const oldRefs = await (await h.hypervisor.freeze(old, T)).release({ commit: true });
      const oldView = await h.hypervisor.freeze(old, T);
      try {
        await expectCode(h.hypervisor.changedRanges(old, oldView, oldRefs, T), 'RCT_UNAVAILABLE');
      } finally {
        await oldView.release({ commit: false });
      }
    });

    it('prunes only the reference points it made, never another tool\'s', async () => {
      const id = await newVm('foreign refs', { State: 'Running' });
      const other = new HypervDriver({ runner: h.runner });
      const foreign = await (await other.freeze(id, T)).release({ commit: true });
      const old = await (await h.hypervisor.freeze(id, T)).release({ commit: true });
      const current = await (await h.hypervisor.freeze(id, T)).release({ commit: true });
      await h.hypervisor.pruneReferences(id, current);
      const state = MockState.parse(await h.mock('GetState', {}));
      expect(state.Vms.find((v) => v.Id.toLowerCase() === id)!.ReferencePoints).to.have.length(2);
      const view = await h.hypervisor.freeze(id, T);
      try {
        await h.hypervisor.changedRanges(id, view, foreign, T);
        await h.hypervisor.changedRanges(id, view, current, T);
        await expectCode(h.hypervisor.changedRanges(id, view, old, T), 'RCT_UNAVAILABLE');
      } finally {
        await view.release({ commit: false });
      }
    });

    it('releases a view left behind by a crash by its id, after which freezing works again', async () => {
      const id = await newVm('crashed mid-cycle', { State: 'Running' });
      const orphan = await h.hypervisor.freeze(id, T);
      await h.guestWrite(id, 8192, 1024, 0x3c);
      const restarted = new HypervDriver({ runner: h.runner });
      const d = await expectCode(restarted.freeze(id, T), 'VM_WRONG_STATE');
      expect(String((d.scriptDetails as { CheckpointDisk?: string }).CheckpointDisk)).to.match(/\.avhdx$/);
      expect(await restarted.releaseView(id, orphan.viewId, { commit: false, timeoutMs: 20_000 })).to.deep.equal([]);
      expect(await restarted.releaseView(id, orphan.viewId, { commit: false, timeoutMs: 20_000 })).to.deep.equal([]);
      const base = orphan.disks[0]!.basePath;
      expect((await h.readVirtual(base, 8192, 1024)).equals(Buffer.alloc(1024, 0x3c))).to.equal(true);
      const refs = await (await restarted.freeze(id, T)).release({ commit: true });
      expect(refs.map((r) => r.basePath)).to.deep.equal([base]);
      await expectCode(restarted.releaseView(id, orphan.viewId, { commit: true, timeoutMs: 20_000 }), 'HYPERVISOR_ERROR');
    });

    it('refuses a second release of the same view', async () => {
      const id = await newVm('twice');
      const view = await h.hypervisor.freeze(id, T);
      await view.release({ commit: false });
      await expectCode(view.release({ commit: true }), 'HYPERVISOR_ERROR');
    });
  });

  describe('states', () => {
    it('times out (VM_TIMEOUT) waiting for a heartbeat that never comes, yet starts without waiting for it', async () => {
      const id = await newVm('no heartbeat', { HeartbeatDelayMs: -1 });
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
      const id = await newVm('no shutdown service', { HeartbeatDelayMs: -1, State: 'Running' });
      const d = await expectCode(h.hypervisor.stopVm(id, 'Shutdown', T), 'HYPERVISOR_ERROR');
      expect(String(d.platformMessage)).to.include('shutdown integration service');
      expect((await h.hypervisor.stopVm(id, 'TurnOff', T)).state).to.equal('Off');
    });

    it('keeps its deadline (VM_TIMEOUT, the session stays) when a guest takes too long to shut down', async () => {
      const id = await newVm('slow shutdown', { State: 'Running' });
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
      const id = await newVm('starting');
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
      const a = await newVm('twin');
      await newVm('twin');
      const solo = await newVm('solo[1]');
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
      const id = await newVm('too big', { MemoryBytes: 128 * 1024 * MiB });
      const d = await expectCode(h.hypervisor.startVm(id, { ...T, waitHeartbeat: false }), 'HYPERVISOR_ERROR');
      expect(String(d.platformMessage)).to.include('Not enough memory');
      expect((await h.hypervisor.getVm(id))!.state).to.equal('Off');
    });

    it('refuses to change a running VM\'s MAC (VM_WRONG_STATE) but accepts pinning the MAC it already has', async () => {
      const id = await newVm('running mac', { State: 'Running' });
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
      const id = await newVm('memory user', { MemoryBytes: 2 * 1024 * MiB });
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
    it('refuses a disk list of the wrong length, and a configuration version the host lacks', async () => {
      const id = await newVm('count me');
      const exported = await h.hypervisor.exportConfig(id, join(h.workDir, 'exp count'), T);
      expect(exported.files.some((f) => f.endsWith('.vmcx'))).to.equal(true);
      await expectCode(h.hypervisor.registerReplica(exported.configDir, [], T), 'VM_INCOMPATIBLE');
      const v12 = await newVm('too new', { Version: '254.0' });
      const exp2 = await h.hypervisor.exportConfig(v12, join(h.workDir, 'exp new'), T);
      const ready = await h.hypervisor.checkReadiness(exp2.configDir, { memoryBytes: MiB, timeoutMs: 20_000 });
      expect(ready.canStart).to.equal(false);
      expect(ready.issues.map((i) => i.kind)).to.include('ConfigurationVersion');
    });
  });
});

/** The set of 512-byte sectors covered by ranges (all writes here are sector-aligned). */
function byteSet(ranges: Array<{ offset: number; length: number }>): Set<number> {
  const s = new Set<number>();
  for (const r of ranges) for (let o = r.offset; o < r.offset + r.length; o += 512) s.add(o / 512);
  return s;
}
