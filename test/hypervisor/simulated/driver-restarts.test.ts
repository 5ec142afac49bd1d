import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hasCode } from '../../../src/errors';
import { createSimulatedHypervisor, createSimulatedVm, crashSimulatedHost, readWriteLog, sequenceAtView, simulatedVmPids, verifyPatternPrefix } from '../../../src/hypervisor/simulated';
import { run } from '../../../src/util/exec';
import { readVhdxLayout } from '../../../src/replication/vhdx';
import { qemuCheck } from '../../helpers/qemu';
import { seeded } from '../../helpers/seed';
import { makeSimFixture, type SimFixture } from './fixture';

const MiB = 1024 * 1024;
const T = { timeoutMs: 20_000 };

async function digest(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

// The simulated driver keeps all of its state in files: a new driver object (an agent restart),
// a VM process restart or a host crash must not lose an open frozen view or a write.
describe('src/hypervisor/simulated/driver (restarts, crashes, names)', function () {
  this.timeout(60_000);
  let f: SimFixture;
  before(async () => {
    f = await makeSimFixture({ switchNames: ['LAN'], hostMemoryBytes: 8 * 1024 * MiB });
  });
  after(async () => f?.cleanup());

  it('keeps an open view frozen across a new driver object, and the old view still releases and merges', async () => {
    const { seed } = seeded('sim-restart-view');
    const id = await createSimulatedVm(f.stateDir, { name: 'restart', disks: [{ sizeBytes: 4 * MiB, subformat: 'fixed' }], writer: { ratePerSecond: 150, unitsPerWrite: 1, seed } });
    await f.hypervisor.startVm(id, { ...T, waitHeartbeat: true });
    await sleep(200);
    const view = await f.hypervisor.freeze(id, T);
    const frozen = await digest(view.disks[0]!.readPath);
    // "Agent restart": a fresh driver on the same state folder sees the open view.
    const again = createSimulatedHypervisor(f.stateDir);
    const info = await again.getVm(id);
    expect(info?.state).to.equal('Running');
    expect(info?.disks[0]!.path).to.not.equal(info?.disks[0]!.basePath);
    expect(info?.disks[0]!.path).to.match(/\.simoverlay$/);
    // Quiet the guest's own writer (through the new driver) so nothing overwrites this write later.
    await again.setWriter(id, { ratePerSecond: 0 });
    await again.guestWrite(id, { offset: 0, length: 8192, pattern: 0x77 });
    await sleep(300);
    expect(await digest(view.disks[0]!.readPath), 'the base did not change').to.equal(frozen);
    expect((await stat(info!.disks[0]!.path)).size, 'the writes went to the overlay').to.be.greaterThan(8192);

    const refs = await view.release({ commit: true });
    expect(refs).to.have.length(1);
    expect((await again.getVm(id))?.disks[0]!.path).to.equal(info?.disks[0]!.basePath);
    expect(await f.readVirtual(view.disks[0]!.readPath, 0, 8192)).to.deep.equal(Buffer.alloc(8192, 0x77));
    await again.stopVm(id, 'Shutdown', T);
    const report = await verifyPatternPrefix({ diskPath: view.disks[0]!.readPath, format: 'VHDX', stateDir: f.stateDir, vmId: id, diskIndex: 0 });
    expect(report.consistent, JSON.stringify(report.mismatches)).to.equal(true);
    const log = await readWriteLog(f.stateDir, id, 0);
    expect(report.prefixSeq).to.equal(Math.max(...log.filter((w) => w.kind === 'pattern').map((w) => w.seq)));
  });

  it('keeps the VM running and its view frozen after the process that drove them exits', async () => {
    const { seed } = seeded('sim-driver-process');
    const id = await createSimulatedVm(f.stateDir, { name: 'orphan', disks: [{ sizeBytes: 2 * MiB, subformat: 'fixed' }], writer: { ratePerSecond: 100, unitsPerWrite: 1, seed } });
    const script = join(__dirname, 'driver-process.ts');
    const r = await run(process.execPath, ['-r', require.resolve('ts-node/register/transpile-only'), script, f.stateDir, id], { timeoutMs: 60_000 });
    expect(r.exitCode, r.stderr).to.equal(0);
    const { viewId } = JSON.parse(r.stdout) as { viewId: string };
    const info = await f.hypervisor.getVm(id);
    expect(info?.state).to.equal('Running');
    expect(info?.disks[0]!.path).to.include(viewId);
    const frozen = await digest(info!.disks[0]!.basePath);
    await sleep(200);
    expect(await digest(info!.disks[0]!.basePath), 'still frozen with its driver gone').to.equal(frozen);
    // This driver never saw that view: its next freeze merges it, then the writes made meanwhile are in the base.
    const view = await f.hypervisor.freeze(id, T);
    const atView = await sequenceAtView(f.stateDir, id, view.viewId);
    await view.release({ commit: true });
    await f.hypervisor.stopVm(id, 'Shutdown', T);
    const report = await verifyPatternPrefix({ diskPath: info!.disks[0]!.basePath, format: 'VHDX', stateDir: f.stateDir, vmId: id, diskIndex: 0 });
    expect(report.consistent, JSON.stringify(report.mismatches)).to.equal(true);
    expect(report.prefixSeq).to.be.greaterThan(atView);
  });

  it('merges a view the previous driver left open before it takes a new one', async () => {
    const id = await createSimulatedVm(f.stateDir, { name: 'stale', disks: [{ sizeBytes: 2 * MiB, subformat: 'fixed' }] });
    await f.hypervisor.startVm(id, { ...T, waitHeartbeat: true });
    const lost = await createSimulatedHypervisor(f.stateDir).freeze(id, T); // its driver "dies" with the view open
    await f.hypervisor.guestWrite(id, { offset: 4096, length: 4096, pattern: 0x42 });
    const view = await f.hypervisor.freeze(id, T);
    expect(view.viewId).to.not.equal(lost.viewId);
    expect(await f.readVirtual(view.disks[0]!.readPath, 4096, 4096)).to.deep.equal(Buffer.alloc(4096, 0x42));
    await view.release({ commit: false });
    try {
      await lost.release({ commit: true });
      expect.fail('released a view that was already merged');
    } catch (err) {
      expect(hasCode(err, 'VM_WRONG_STATE')).to.equal(true);
    }
    await f.hypervisor.stopVm(id, 'TurnOff', T);
  });

  it('keeps writing into the overlay after a host crash while frozen, and the release merges every write', async () => {
    const { seed } = seeded('sim-crash-frozen');
    const id = await createSimulatedVm(f.stateDir, { name: 'crash frozen', disks: [{ sizeBytes: 4 * MiB, subformat: 'fixed' }], writer: { ratePerSecond: 150, unitsPerWrite: 1, seed } });
    await f.hypervisor.startVm(id, { ...T, waitHeartbeat: true });
    await sleep(150);
    const view = await f.hypervisor.freeze(id, T);
    const frozen = await digest(view.disks[0]!.readPath);
    await sleep(150);
    await crashSimulatedHost(f.stateDir);
    expect((await f.hypervisor.getVm(id))?.state).to.equal('Off');
    await f.hypervisor.startVm(id, { ...T, waitHeartbeat: true });
    await sleep(200);
    expect(await digest(view.disks[0]!.readPath)).to.equal(frozen);
    await view.release({ commit: true });
    await f.hypervisor.stopVm(id, 'Shutdown', T);
    const report = await verifyPatternPrefix({ diskPath: view.disks[0]!.readPath, format: 'VHDX', stateDir: f.stateDir, vmId: id, diskIndex: 0 });
    expect(report.consistent, JSON.stringify(report.mismatches)).to.equal(true);
    // The VM was shut down cleanly at the end: its last write is complete and must be there.
    const log = await readWriteLog(f.stateDir, id, 0);
    expect(log[log.length - 1]!.mayBeTorn).to.equal(false);
    expect(report.prefixSeq).to.equal(log[log.length - 1]!.seq);
  });

  it('completes a release whose VM process is killed at a random point of the merge, losing no write', async () => {
    const { seed, int } = seeded('sim-kill-during-release');
    const id = await createSimulatedVm(f.stateDir, { name: 'kill merge', disks: [{ sizeBytes: 4 * MiB, subformat: 'fixed' }, { sizeBytes: 2 * MiB, subformat: 'raw' }], writer: { ratePerSecond: 400, unitsPerWrite: 4, seed } });
    for (let round = 0; round < 3; round++) {
      await f.hypervisor.startVm(id, { ...T, waitHeartbeat: true });
      const view = await f.hypervisor.freeze(id, T);
      await sleep(int(100, 300));
      const [proc] = await simulatedVmPids(f.stateDir);
      const releasing = view.release({ commit: true });
      await sleep(int(0, 15));
      process.kill(proc!.pid, 'SIGKILL');
      const refs = await releasing;
      expect(refs).to.have.length(2);
      for (const d of view.disks) expect(existsSync(`${d.readPath}.${view.viewId}.simoverlay`), 'no overlay left behind').to.equal(false);
      // SIGKILL lands asynchronously: the release may have finished first.
      for (let i = 0; i < 200 && (await f.hypervisor.getVm(id))?.state !== 'Off'; i++) await sleep(10);
      expect((await f.hypervisor.getVm(id))?.state).to.equal('Off');
      for (const [i, d] of view.disks.entries()) {
        const report = await verifyPatternPrefix({ diskPath: d.readPath, format: i === 0 ? 'VHDX' : 'Raw', stateDir: f.stateDir, vmId: id, diskIndex: i });
        expect(report.consistent, `round ${round} disk ${i}: ${JSON.stringify(report.mismatches)}`).to.equal(true);
        const log = await readWriteLog(f.stateDir, id, i);
        const last = log[log.length - 1];
        // Every logged write is in the base, except perhaps the one in flight at the kill (never acknowledged).
        if (report.prefixSeq !== (last?.seq ?? 0)) expect(last?.mayBeTorn, `round ${round} disk ${i}: only an in-flight write may be missing`).to.equal(true);
        expect(report.prefixSeq).to.be.at.least(log.length > 1 ? log[log.length - 2]!.seq : 0);
      }
    }
  });

  it('renews the VHDX DataWriteGuid before the first write of a run and of each merge, and leaves it alone while nothing is written', async () => {
    const id = await createSimulatedVm(f.stateDir, { name: 'guid', disks: [{ sizeBytes: 2 * MiB, subformat: 'fixed' }] });
    const disk = (await f.hypervisor.getVm(id))!.disks[0]!.path;
    const g0 = (await readVhdxLayout(disk)).dataWriteGuid;
    await f.hypervisor.startVm(id, { ...T, waitHeartbeat: true });
    await sleep(100);
    expect((await readVhdxLayout(disk)).dataWriteGuid, 'no write yet').to.equal(g0);
    await f.hypervisor.guestWrite(id, { offset: 0, length: 512, pattern: 1 });
    const g1 = (await readVhdxLayout(disk)).dataWriteGuid;
    expect(g1).to.not.equal(g0);
    await f.hypervisor.guestWrite(id, { offset: 512, length: 512, pattern: 2 });
    expect((await readVhdxLayout(disk)).dataWriteGuid, 'once per write session').to.equal(g1);
    // A merge after a freeze writes to the base in a new session, as a checkpoint merge does.
    const view = await f.hypervisor.freeze(id, T);
    await f.hypervisor.guestWrite(id, { offset: 1024, length: 512, pattern: 3 });
    expect((await readVhdxLayout(disk)).dataWriteGuid, 'the frozen base is untouched').to.equal(g1);
    await view.release({ commit: true });
    const g2 = (await readVhdxLayout(disk)).dataWriteGuid;
    expect(g2).to.not.equal(g1);
    const empty = await f.hypervisor.freeze(id, T);
    await empty.release({ commit: true });
    expect((await readVhdxLayout(disk)).dataWriteGuid, 'a merge of nothing writes nothing').to.equal(g2);
    await f.hypervisor.stopVm(id, 'Shutdown', T);
    const check = await qemuCheck(disk);
    expect(check.ok, check.output).to.equal(true);
  });

  it('treats names with quotes, dollars, slashes and unicode as data: every file is named by the VM id', async () => {
    const names = ["../../x'; Remove-Item -Recurse -Force $HOME; '", '‘x’ – — "q" `$(id)` \\..\\evil', 'ünïcødé/../../'];
    const ids = [];
    for (const name of names) ids.push(await createSimulatedVm(f.stateDir, { name, disks: [{ sizeBytes: 1 * MiB, subformat: 'raw' }], switchNames: ['LAN'] }));
    for (const [i, id] of ids.entries()) {
      const found = await f.hypervisor.findVmsByName(names[i]!);
      expect(found.map((v) => v.id)).to.deep.equal([id]);
      await f.hypervisor.startVm(id, { ...T, waitHeartbeat: true });
      const view = await f.hypervisor.freeze(id, T);
      await f.hypervisor.guestWrite(id, { offset: 0, length: 512, pattern: 9 });
      await view.release({ commit: true });
      await f.hypervisor.exportConfig(id, join(f.workDir, `export-${i}`), T);
      await f.hypervisor.stopVm(id, 'TurnOff', T);
    }
    const all = await readdir(f.stateDir, { recursive: true });
    for (const p of all) {
      for (const part of String(p).split('/')) {
        expect(part, String(p)).to.match(/^(host\.json|host-epoch\.json|vms|disks|requests|responses|[0-9a-f-]{36}(-\d+\.(raw|vhdx))?|vm\.json|runtime\.json|process\.log|disk-\d+\.changes\.jsonl|\d{15}-\d{6}-[0-9a-f-]{36}\.json)$/);
      }
    }
    expect(await readdir(join(f.stateDir, '..'))).to.have.members(['host state', 'work']);
  });
});
