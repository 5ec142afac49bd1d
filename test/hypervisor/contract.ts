import { expect } from 'chai';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { hasCode, type ErrorCode } from '../../src/errors';
import type { DiskReference, FrozenView, Hypervisor, VmId } from '../../src/hypervisor/types';
import { seeded } from '../helpers/seed';

// The ONE contract every hypervisor driver passes (simulated, and Hyper-V on the mock module).
// The fixture interface is described in /work/notes/contract.md and docs/simulated-hypervisor.md.

/** What a host under test looks like (each fixture is one independent host). */
export interface FixtureOptions {
  switchNames: string[];
  hostMemoryBytes: number;
}

export interface VmSpec {
  name: string;
  memoryBytes: number;
  processorCount: number;
  disks: Array<{ sizeBytes: number; subformat: 'fixed' | 'dynamic' }>;
  switchName?: string;
  macAddress?: string;
}

/** One host plus the test-only powers a driver contract needs ("the guest writes", "read the disk"). */
export interface DriverFixture {
  hypervisor: Hypervisor;
  workDir: string;
  changeGranularityBytes: number;
  createVm(spec: VmSpec): Promise<VmId>;
  guestWrite(vmId: VmId, virtualOffset: number, length: number, pattern: number, diskIndex?: number): Promise<void>;
  readVirtual(path: string, offset: number, length: number): Promise<Buffer>;
  cleanup(): Promise<void>;
}

type Range = { offset: number; length: number };
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const T = { timeoutMs: 20_000 };
const UNKNOWN_ID = '0badc0de-0000-4000-8000-000000000000';

/** Sorted, merged copy of ranges (adjacent ranges joined). */
function normalize(ranges: Range[]): Range[] {
  const sorted = ranges.filter((r) => r.length > 0).map((r) => ({ ...r })).sort((a, b) => a.offset - b.offset);
  const out: Range[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.offset <= last.offset + last.length) {
      last.length = Math.max(last.length, r.offset + r.length - last.offset);
    } else out.push(r);
  }
  return out;
}

function roundOut(ranges: Range[], g: number): Range[] {
  return normalize(ranges.map((r) => {
    const start = Math.floor(r.offset / g) * g;
    const end = Math.ceil((r.offset + r.length) / g) * g;
    return { offset: start, length: end - start };
  }));
}

/** True when every byte of `inner` lies inside `outer`. */
function covers(outer: Range[], inner: Range[]): boolean {
  const o = normalize(outer);
  return normalize(inner).every((r) => o.some((x) => x.offset <= r.offset && r.offset + r.length <= x.offset + x.length));
}

/** Asserts `reported` covers `written` and exceeds it only by rounding to the granularity. */
function expectRanges(reported: Range[], written: Range[], granularity: number): void {
  expect(covers(reported, written), `reported ${JSON.stringify(normalize(reported))} must cover written ${JSON.stringify(normalize(written))}`).to.equal(true);
  expect(covers(roundOut(written, granularity), reported), `reported ${JSON.stringify(normalize(reported))} exceeds written ${JSON.stringify(normalize(written))} rounded to ${granularity}`).to.equal(true);
}

async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    expect(hasCode(err, code), `expected ${code}, got ${String((err as { code?: string }).code)}: ${String(err)}`).to.equal(true);
    return err;
  }
  expect.fail(`expected ${code}, but the call succeeded`);
}

/** Seeded, non-overlapping-or-not writes inside [0, size), 512-aligned like a guest's sectors. */
function randomWrites(label: string, count: number, sizeBytes: number): Array<Range & { pattern: number }> {
  const r = seeded(label);
  const sectors = sizeBytes / 512;
  return Array.from({ length: count }, () => {
    const len = r.int(1, 16) * 512;
    const offset = r.int(0, sectors - len / 512) * 512;
    return { offset, length: len, pattern: r.int(1, 255) };
  });
}

/** Registers the whole driver contract as mocha suites. */
export function runDriverContract(driverName: string, makeFixture: (o: FixtureOptions) => Promise<DriverFixture>): void {
  const hostA: FixtureOptions = { switchNames: ['LAN', 'DMZ ‘prod’ "x"'], hostMemoryBytes: 16 * GiB };
  const hostB: FixtureOptions = { switchNames: ['LAN'], hostMemoryBytes: 4 * GiB };
  const vm = (name: string, extra: Partial<VmSpec> = {}): VmSpec => ({
    name, memoryBytes: 512 * MiB, processorCount: 2, disks: [{ sizeBytes: 4 * MiB, subformat: 'fixed' }], ...extra,
  });

  describe(`hypervisor driver contract: ${driverName}`, function () {
    this.timeout(60_000);

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

    describe('lifecycle', () => {
      let f: DriverFixture;
      let id: VmId;
      before(async () => {
        f = await makeFixture(hostA);
        id = await f.createVm(vm('life'));
      });
      after(async () => f?.cleanup());

      it('starts an Off VM into Running with an Ok guest heartbeat', async () => {
        const info = await f.hypervisor.startVm(id, { ...T, waitHeartbeat: true });
        expect(info.state).to.equal('Running');
        expect(info.heartbeat ?? '').to.match(/^Ok/);
        expect((await f.hypervisor.getVm(id))?.state).to.equal('Running');
      });

      it('refuses to start a VM that runs (VM_WRONG_STATE)', async () => {
        await expectCode(f.hypervisor.startVm(id, { ...T, waitHeartbeat: false }), 'VM_WRONG_STATE');
      });

      it('shuts a VM down to Off, then refuses to stop it again (VM_WRONG_STATE)', async () => {
        expect((await f.hypervisor.stopVm(id, 'Shutdown', T)).state).to.equal('Off');
        expect((await f.hypervisor.getVm(id))?.state).to.equal('Off');
        await expectCode(f.hypervisor.stopVm(id, 'Shutdown', T), 'VM_WRONG_STATE');
        await expectCode(f.hypervisor.stopVm(id, 'TurnOff', T), 'VM_WRONG_STATE');
      });

      it('turns a running VM off', async () => {
        await f.hypervisor.startVm(id, { ...T, waitHeartbeat: true });
        expect((await f.hypervisor.stopVm(id, 'TurnOff', T)).state).to.equal('Off');
      });

      it('saves a running VM to Saved and starts it again from Saved', async () => {
        await f.hypervisor.startVm(id, { ...T, waitHeartbeat: true });
        expect((await f.hypervisor.stopVm(id, 'Save', T)).state).to.equal('Saved');
        expect((await f.hypervisor.getVm(id))?.state).to.equal('Saved');
        expect((await f.hypervisor.startVm(id, { ...T, waitHeartbeat: true })).state).to.equal('Running');
        expect((await f.hypervisor.stopVm(id, 'TurnOff', T)).state).to.equal('Off');
      });
    });

    describe('freeze, release and changed ranges', () => {
      let f: DriverFixture;
      let id: VmId;
      let basePaths: string[];
      const size = 4 * MiB;
      before(async () => {
        f = await makeFixture(hostA);
        id = await f.createVm(vm('frozen', { disks: [{ sizeBytes: size, subformat: 'fixed' }, { sizeBytes: size, subformat: 'dynamic' }] }));
        basePaths = (await f.hypervisor.getVm(id))!.disks.map((d) => d.basePath);
      });
      after(async () => {
        await f?.hypervisor.stopVm(id, 'TurnOff', T).catch(() => undefined);
        await f?.cleanup();
      });

      async function writeAll(writes: Array<Range & { pattern: number }>, disk: number): Promise<void> {
        for (const w of writes) await f.guestWrite(id, w.offset, w.length, w.pattern, disk);
      }

      it('freezes an Off VM on its own disks and returns one reference per disk on commit', async () => {
        const view = await f.hypervisor.freeze(id, T);
        expect(view.vmId).to.equal(id);
        expect(view.disks.map((d) => d.basePath)).to.deep.equal(basePaths);
        expect(view.disks.map((d) => d.readPath)).to.deep.equal(basePaths);
        expect(view.disks.map((d) => d.sizeBytes)).to.deep.equal([size, size]);
        const refs = await view.release({ commit: true });
        expect(refs.map((r) => r.basePath)).to.deep.equal(basePaths);
        for (const r of refs) expect(r.rctId).to.be.a('string').and.not.equal('');
      });

      it('keeps the frozen read paths unchanged while the guest writes, then merges the writes into the base', async () => {
        await f.hypervisor.startVm(id, { ...T, waitHeartbeat: true });
        const view = await f.hypervisor.freeze(id, T);
        try {
          const before = await Promise.all(view.disks.map((d) => f.readVirtual(d.readPath, 0, size)));
          await f.guestWrite(id, 0, 4096, 0xa1, 0);
          await f.guestWrite(id, size - 1024, 1024, 0xa2, 0);
          await f.guestWrite(id, MiB + 512, 8192, 0xa3, 1);
          const during = await Promise.all(view.disks.map((d) => f.readVirtual(d.readPath, 0, size)));
          expect(during[0]!.equals(before[0]!), 'disk 0 frozen').to.equal(true);
          expect(during[1]!.equals(before[1]!), 'disk 1 frozen').to.equal(true);
        } finally {
          await view.release({ commit: false });
        }
        expect((await f.readVirtual(basePaths[0]!, 0, 4096)).equals(Buffer.alloc(4096, 0xa1))).to.equal(true);
        expect((await f.readVirtual(basePaths[0]!, size - 1024, 1024)).equals(Buffer.alloc(1024, 0xa2))).to.equal(true);
        expect((await f.readVirtual(basePaths[1]!, MiB + 512, 8192)).equals(Buffer.alloc(8192, 0xa3))).to.equal(true);
        expect((await f.readVirtual(basePaths[1]!, MiB, 512)).equals(Buffer.alloc(512, 0))).to.equal(true);
      });

      it('reports exactly the ranges written between a committed reference and the next view', async () => {
        const v1 = await f.hypervisor.freeze(id, T);
        const refs = await v1.release({ commit: true });
        const w0 = randomWrites('contract-rct-0', 12, size);
        const w1 = randomWrites('contract-rct-1', 5, size);
        await writeAll(w0, 0);
        await writeAll(w1, 1);
        const v2 = await f.hypervisor.freeze(id, T);
        let refs2: DiskReference[] = [];
        try {
          const changes = await f.hypervisor.changedRanges(id, v2, refs, T);
          expect(changes.map((c) => c.basePath)).to.deep.equal(basePaths);
          expect(changes.map((c) => c.virtualSizeBytes)).to.deep.equal([size, size]);
          expectRanges(changes[0]!.ranges, w0, f.changeGranularityBytes);
          expectRanges(changes[1]!.ranges, w1, f.changeGranularityBytes);
          // Written while v2 is open: not part of v2, reported at the next view instead.
          await f.guestWrite(id, 2 * MiB, 4096, 0x5a, 0);
        } finally {
          refs2 = await v2.release({ commit: true });
        }
        const v3 = await f.hypervisor.freeze(id, T);
        try {
          const changes = await f.hypervisor.changedRanges(id, v3, refs2, T);
          expectRanges(changes[0]!.ranges, [{ offset: 2 * MiB, length: 4096 }], f.changeGranularityBytes);
          expectRanges(changes[1]!.ranges, [], f.changeGranularityBytes);
        } finally {
          await v3.release({ commit: false });
        }
      });

      it('returns no references on release without commit, and the previous reference stays the baseline', async () => {
        const v1 = await f.hypervisor.freeze(id, T);
        const refs = await v1.release({ commit: true });
        await f.guestWrite(id, 8192, 512, 0x11, 0);
        const v2 = await f.hypervisor.freeze(id, T);
        expect(await v2.release({ commit: false })).to.deep.equal([]);
        await f.guestWrite(id, 3 * MiB, 1024, 0x22, 0);
        const v3: FrozenView = await f.hypervisor.freeze(id, T);
        try {
          const changes = await f.hypervisor.changedRanges(id, v3, refs, T);
          expectRanges(changes[0]!.ranges, [{ offset: 8192, length: 512 }, { offset: 3 * MiB, length: 1024 }], f.changeGranularityBytes);
        } finally {
          await v3.release({ commit: false });
        }
      });

      it('fails with RCT_UNAVAILABLE for a reference it never gave', async () => {
        const view = await f.hypervisor.freeze(id, T);
        try {
          const bogus = basePaths.map((p) => ({ basePath: p, rctId: 'rctX:not-a-reference:0' }));
          await expectCode(f.hypervisor.changedRanges(id, view, bogus, T), 'RCT_UNAVAILABLE');
        } finally {
          await view.release({ commit: false });
        }
      });
    });

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
  });
}
