import { expect } from 'chai';
import { copyFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  PATTERN_UNIT, crashSimulatedHost, createSimulatedVm, decodeDiskPattern, decodePatternUnit, readWriteLog, sequenceAtView, verifyPatternPrefix,
} from '../../../src/hypervisor/simulated';
import { runOk } from '../../../src/util/exec';
import { qemuCheck } from '../../helpers/qemu';
import { seeded } from '../../helpers/seed';
import { readVirtualQemu } from '../qemu-read';
import { makeSimFixture, type SimFixture } from './fixture';

const MiB = 1024 * 1024;
const T = { timeoutMs: 20_000 };

describe('src/hypervisor/simulated/verify', function () {
  this.timeout(60_000);
  let f: SimFixture;
  let id: string;
  before(async () => {
    f = await makeSimFixture({ switchNames: ['LAN'], hostMemoryBytes: 8 * 1024 * MiB });
    const { seed } = seeded('sim-verify-writer');
    id = await createSimulatedVm(f.stateDir, {
      name: 'writer',
      disks: [{ sizeBytes: 4 * MiB, subformat: 'fixed' }, { sizeBytes: 4 * MiB, subformat: 'dynamic' }],
      writer: { ratePerSecond: 150, unitsPerWrite: 2, seed },
    });
  });
  after(async () => f?.cleanup());

  /** Freezes the running VM, copies its read paths (a "replica"), releases; returns copies and the view's last sequence number. */
  async function snapshot(tag: string): Promise<{ copies: string[]; seq: number }> {
    const view = await f.hypervisor.freeze(id, T);
    const copies: string[] = [];
    try {
      for (const [i, d] of view.disks.entries()) {
        const dest = join(f.workDir, `${tag}-${i}.vhdx`);
        await copyFile(d.readPath, dest);
        copies.push(dest);
      }
    } finally {
      await view.release({ commit: true });
    }
    return { copies, seq: await sequenceAtView(f.stateDir, id, view.viewId) };
  }

  it('lets a test prove a frozen copy holds exactly writes 1..N of the running guest, N being the last write before the freeze', async () => {
    await f.hypervisor.startVm(id, { ...T, waitHeartbeat: true });
    await sleep(700);
    const { copies, seq } = await snapshot('a');
    expect(seq, 'the guest wrote before the freeze').to.be.greaterThan(20);
    let units = 0;
    for (const [i, c] of copies.entries()) {
      const report = await verifyPatternPrefix({ diskPath: c, format: 'VHDX', stateDir: f.stateDir, vmId: id, diskIndex: i, atSeq: seq });
      expect(report.consistent, JSON.stringify(report.mismatches)).to.equal(true);
      units += report.patternUnits;
    }
    expect(units).to.be.greaterThan(20);
    // The writes went on while the copy was taken: the live disk is further along than the copy.
    await sleep(200);
    const log = await readWriteLog(f.stateDir, id, 0);
    expect(Math.max(...log.map((w) => w.seq))).to.be.greaterThan(seq);
  });

  it('decodes the same units as QEMU reads them, and QEMU finds the files consistent (the pattern goes through the VHDX mapping)', async () => {
    const { copies } = await snapshot('q');
    for (const c of copies) {
      const ours = await decodeDiskPattern(c, 'VHDX');
      const raw = await readVirtualQemu(c, 0, 4 * MiB);
      const theirs = [];
      for (let o = 0; o < raw.length; o += PATTERN_UNIT) {
        const u = decodePatternUnit(raw.subarray(o, o + PATTERN_UNIT));
        if (u !== null) theirs.push({ offset: o, unit: u });
      }
      expect(theirs.length).to.be.greaterThan(0);
      expect(ours).to.deep.equal(theirs);
      for (const { offset, unit } of ours) expect(unit.writeOffset + unit.unitIndex * PATTERN_UNIT).to.equal(offset);
      // Written in place (fixed) and through allocation (dynamic), the file stays a valid VHDX for QEMU.
      const check = await qemuCheck(c);
      expect(check.ok, check.output).to.equal(true);
    }
  });

  it('catches a copy that mixes two generations, and a unit that went missing', async () => {
    const early = await snapshot('early');
    await sleep(400);
    const late = await snapshot('late');
    expect(late.seq).to.be.greaterThan(early.seq);
    // Splice: the early copy with one unit the late write history changed, taken from the late copy.
    const lateUnits = await decodeDiskPattern(late.copies[0]!, 'VHDX');
    const newer = lateUnits.reduce((a, b) => (b.unit.seq > a.unit.seq ? b : a), lateUnits[0]!);
    expect(newer.unit.seq).to.be.greaterThan(early.seq + 1);
    const mixed = join(f.workDir, 'mixed.vhdx');
    await copyFile(early.copies[0]!, mixed);
    const raw = await readVirtualQemu(late.copies[0]!, newer!.offset, PATTERN_UNIT);
    const { rand } = seeded('sim-verify-splice');
    await writeVirtualAt(mixed, newer!.offset, raw);
    const report = await verifyPatternPrefix({ diskPath: mixed, format: 'VHDX', stateDir: f.stateDir, vmId: id, diskIndex: 0 });
    expect(report.consistent).to.equal(false);
    expect(report.mismatches.length).to.be.greaterThan(0);
    // Zero one unit the early copy must hold.
    const holes = join(f.workDir, 'holes.vhdx');
    await copyFile(early.copies[0]!, holes);
    const earlyUnits = await decodeDiskPattern(holes, 'VHDX');
    const victim = earlyUnits[Math.floor(rand() * earlyUnits.length)]!;
    await writeVirtualAt(holes, victim.offset, Buffer.alloc(PATTERN_UNIT));
    const r2 = await verifyPatternPrefix({ diskPath: holes, format: 'VHDX', stateDir: f.stateDir, vmId: id, diskIndex: 0, atSeq: early.seq });
    expect(r2.consistent).to.equal(false);
    expect(r2.mismatches.map((m) => m.offset)).to.include(victim.offset);
  });

  it('continues the sequence on the peer after a failover, and verifies the history across both hosts', async () => {
    const { copies, seq } = await snapshot('failover');
    const b = await makeSimFixture({ switchNames: ['LAN'], hostMemoryBytes: 8 * 1024 * MiB });
    try {
      const exported = await f.hypervisor.exportConfig(id, join(f.workDir, 'failover-export'), T);
      await b.hypervisor.registerReplica(exported.configDir, copies, T);
      await crashSimulatedHost(f.stateDir);
      await b.hypervisor.startVm(id, { ...T, waitHeartbeat: true });
      await sleep(400);
      await b.hypervisor.stopVm(id, 'Shutdown', T);
      const onB = await readWriteLog(b.stateDir, id, 0);
      expect(onB.length).to.be.greaterThan(0);
      const firstOnB = Math.min(...onB.map((w) => w.seq));
      expect(firstOnB, 'B numbers on from the last write the replica holds').to.be.greaterThan(seq);
      for (const [i, c] of copies.entries()) {
        const report = await verifyPatternPrefix({ diskPath: c, format: 'VHDX', vmId: id, diskIndex: i, history: [{ stateDir: f.stateDir, throughSeq: seq }, { stateDir: b.stateDir }] });
        expect(report.consistent, JSON.stringify(report.mismatches)).to.equal(true);
        expect(report.prefixSeq).to.be.greaterThan(seq);
        // A's log alone does not explain a disk B wrote to: B's writes are not A's, even where the numbers agree.
        const bWrote = (await readWriteLog(b.stateDir, id, i)).some((w) => w.kind === 'pattern');
        const aOnly = await verifyPatternPrefix({ diskPath: c, format: 'VHDX', vmId: id, diskIndex: i, stateDir: f.stateDir });
        if (bWrote) expect(aOnly.consistent, `disk ${i}`).to.equal(false);
      }
    } finally {
      await b.cleanup();
    }
  });
});

/** Writes bytes at a virtual offset of a VHDX copy through QEMU (not through the code under test). */
async function writeVirtualAt(path: string, offset: number, data: Buffer): Promise<void> {
  const tmp = `${path}.${offset}.bin`;
  const fh = await open(tmp, 'w');
  await fh.write(data);
  await fh.close();
  await runOk('qemu-io', ['-f', 'vhdx', '-c', `write -q -s ${tmp} ${offset} ${data.length}`, path]);
}
