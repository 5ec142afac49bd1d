import { expect } from 'chai';
import { copyFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSimulatedHypervisor, crashSimulatedHost, decodeDiskPattern, readWriteLog, sequenceAtView, type SimulatedHypervisor } from '../../src/hypervisor/simulated';
import { LabVerifyOutput, type LabHostName, type LabModule } from '../../src/lab/schema';
import { run } from '../../src/util/exec';
import { seeded } from '../helpers/seed';
import { createTestLab, type LabUnderTest } from './lab-cli';

// `vmmirror lab verify` on a lab whose agents never run: the test moves the VMs itself through the
// simulated driver (start, freeze and copy as a replication would, crash, start the replica, resync
// by copying back), so every expected figure is known exactly, and checks what verify reports.

describe('vmmirror lab verify (VMs driven by hand, no agent)', function () {
  this.timeout(300_000);
  const rng = seeded('lab verify');
  let t: LabUnderTest;
  let hv: Record<LabHostName, SimulatedHypervisor>;
  let vm1: LabModule;
  let vm2: LabModule;
  const sim = (h: LabHostName) => t.lab.Hosts.find((x) => x.Name === h)!.SimDirectory;
  const copy = (m: LabModule, h: LabHostName) => m.Copies.find((c) => c.Host === h)!.Path;

  before(async () => {
    process.stderr.write(`      lab seed ${rng.seed}\n`);
    t = await createTestLab(rng.seed, ['--vms', '2', '--writes-per-second', '50']);
    hv = { hva: createSimulatedHypervisor(sim('hva')), hvb: createSimulatedHypervisor(sim('hvb')) };
    [vm1, vm2] = t.lab.Modules as [LabModule, LabModule];
  });
  after(() => t.cleanup());

  const verify = async (extra: string[] = []): Promise<{ exitCode: number; doc: LabVerifyOutput }> => {
    const r = await t.cli(['lab', 'verify', t.dir, '--json', ...extra]);
    expect(r.stdout.trim().split('\n'), 'one JSON document on stdout').to.have.length(1);
    return { exitCode: r.exitCode, doc: LabVerifyOutput.parse(JSON.parse(r.stdout)) };
  };
  const report = (doc: LabVerifyOutput, m: LabModule) => doc.Vms.find((v) => v.Module === m.Name)!;
  const copyReport = (doc: LabVerifyOutput, m: LabModule, h: LabHostName) => report(doc, m).Copies.find((c) => c.Host === h)!;

  const writes = async (h: LabHostName, m: LabModule) => readWriteLog(sim(h), m.VmId, 0);
  // Waits for the guest's writes as an event (the change log), never for a fixed time.
  async function waitWrites(h: LabHostName, m: LabModule, atLeast: number): Promise<number> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const w = await writes(h, m);
      const last = w[w.length - 1]?.seq ?? 0;
      if (last >= atLeast) return last;
      if (Date.now() > deadline) throw new Error(`${m.Name} on ${h} reached write ${last}, not ${atLeast}`);
      await sleep(50);
    }
  }
  const start = (h: LabHostName, m: LabModule) => hv[h].startVm(m.VmId, { timeoutMs: 30_000, waitHeartbeat: true });
  // What one replication cycle does: a frozen view of the runner's disk, copied whole to the peer's copy.
  async function replicate(from: LabHostName, to: LabHostName, m: LabModule): Promise<number> {
    const view = await hv[from].freeze(m.VmId, { timeoutMs: 30_000 });
    await copyFile(view.disks[0]!.readPath, copy(m, to));
    const n = await sequenceAtView(sim(from), m.VmId, view.viewId);
    await view.release({ commit: true });
    return n;
  }

  let n1 = 0;
  it('reports where each VM runs and that each replica holds exactly the writes of its last generation', async () => {
    await start('hva', vm1);
    await start('hvb', vm2);
    await waitWrites('hva', vm1, 20);
    await waitWrites('hvb', vm2, 20);
    n1 = await replicate('hva', 'hvb', vm1);
    const n2 = await replicate('hvb', 'hva', vm2);
    const { exitCode, doc } = await verify();
    expect(exitCode, JSON.stringify(doc.Problems)).to.equal(0);
    expect(doc.Ok).to.equal(true);
    expect(report(doc, vm1).RunningOn).to.deep.equal(['hva']);
    expect(report(doc, vm2).RunningOn).to.deep.equal(['hvb']);
    expect(copyReport(doc, vm1, 'hva')).to.include({ Running: true, Consistent: null });
    expect(copyReport(doc, vm1, 'hvb')).to.include({ Running: false, Consistent: true, PrefixSeq: n1, OnCurrentHistory: true });
    expect(copyReport(doc, vm2, 'hva')).to.include({ Running: false, Consistent: true, PrefixSeq: n2, OnCurrentHistory: true });
    expect(report(doc, vm1)).to.include({ WritesLost: 0 });
    expect(report(doc, vm1).Runs.map((r) => [r.Host, r.FirstSeq])).to.deep.equal([['hva', 1]]);
  });

  it('fails (exit 1) on a copy with one damaged unit, naming the copy and the offset', async () => {
    // Not the newest unit: without it the copy would just be an older, still consistent prefix.
    const units = (await decodeDiskPattern(copy(vm1, 'hvb'), 'VHDX')).filter((u) => u.unit.vmId === vm1.VmId && u.unit.seq < n1);
    const victim = units[Math.floor(rng.rand() * units.length)]!;
    process.stderr.write(`      damaging ${vm1.Name}'s copy on hvb at virtual offset ${victim.offset} (write ${victim.unit.seq})\n`);
    // Through QEMU, an independent VHDX writer: 512 bytes in the middle of the unit.
    const r = await run('qemu-io', ['-f', 'vhdx', '-c', `write -q -P 0xab ${victim.offset + 1024} 512`, copy(vm1, 'hvb')]);
    expect(r.exitCode, r.stderr).to.equal(0);
    const { exitCode, doc } = await verify();
    expect(exitCode).to.equal(1);
    expect(doc.Ok).to.equal(false);
    const c = copyReport(doc, vm1, 'hvb');
    expect(c.Consistent).to.equal(false);
    expect(c.Mismatches.map((x) => x.Offset)).to.include(victim.offset);
    expect(doc.Problems.join('\n')).to.match(/copy on hvb is not a consistent prefix of vm1/);
    expect(copyReport(doc, vm2, 'hva').Consistent, 'the other VM is not affected').to.equal(true);
    n1 = await replicate('hva', 'hvb', vm1);
    expect((await verify()).exitCode).to.equal(0);
  });

  it('follows the VM through a crash, a failover and a failback: the lost writes are counted exactly and both copies verify', async () => {
    // Some writes after the last replicated generation, then the host dies with them.
    await waitWrites('hva', vm1, n1 + 10);
    await crashSimulatedHost(sim('hva'));
    const a1 = await writes('hva', vm1);
    const lost = a1.filter((w) => w.seq > n1).length;
    expect(lost).to.be.greaterThan(0);
    // Failover: the replica VM starts on hvb from its copy, numbering from what the copy holds.
    // It runs past hva's last number, so the failback below must number above the resynced disk.
    await start('hvb', vm1);
    await waitWrites('hvb', vm1, a1[a1.length - 1]!.seq + 20);
    let { exitCode, doc } = await verify();
    expect(exitCode, JSON.stringify(doc.Problems)).to.equal(0);
    expect(report(doc, vm1).RunningOn).to.deep.equal(['hvb']);
    expect(report(doc, vm1).WritesLost).to.equal(lost);
    expect(report(doc, vm1).WritesLostSeconds).to.equal(lost / 50);
    // The crashed copy is a consistent prefix of the history it had (its last write may not have landed).
    const crashedCopy = copyReport(doc, vm1, 'hva');
    expect(crashedCopy).to.include({ Consistent: true, OnCurrentHistory: false });
    expect(crashedCopy.PrefixSeq).to.be.within(a1[a1.length - 1]!.seq - 1, a1[a1.length - 1]!.seq);
    expect(report(doc, vm1).Runs.map((r) => [r.Host, r.FirstSeq])).to.deep.equal([['hva', 1], ['hvb', n1 + 1]]);
    // Failback: a clean stop on hvb, hva resynchronised from hvb's copy, the VM back on hva.
    await hv.hvb.stopVm(vm1.VmId, 'Shutdown', { timeoutMs: 30_000 });
    const b1 = await writes('hvb', vm1);
    const bLast = b1[b1.length - 1]!.seq;
    await copyFile(copy(vm1, 'hvb'), copy(vm1, 'hva'));
    await start('hva', vm1);
    const aLast = await waitWrites('hva', vm1, bLast + 10);
    await hv.hva.stopVm(vm1.VmId, 'Shutdown', { timeoutMs: 30_000 });
    await hv.hvb.stopVm(vm2.VmId, 'Shutdown', { timeoutMs: 30_000 });
    ({ exitCode, doc } = await verify(['--stopped']));
    expect(exitCode, JSON.stringify(doc.Problems)).to.equal(0);
    const runs = report(doc, vm1).Runs;
    expect(runs.map((r) => [r.Host, r.FirstSeq])).to.deep.equal([['hva', 1], ['hvb', n1 + 1], ['hva', bLast + 1]]);
    expect(report(doc, vm1).RunningOn).to.deep.equal([]);
    expect(copyReport(doc, vm1, 'hva')).to.include({ Consistent: true, OnCurrentHistory: true, PrefixSeq: runs[2]!.LastSeq });
    expect(runs[2]!.LastSeq).to.be.at.least(aLast);
    expect(copyReport(doc, vm1, 'hvb')).to.include({ Consistent: true, OnCurrentHistory: true, PrefixSeq: bLast });
    expect(report(doc, vm1).WritesLost).to.equal(lost);
    for (const h of ['hva', 'hvb'] as const) expect((await run('qemu-img', ['check', '-f', 'vhdx', copy(vm1, h)])).exitCode, h).to.equal(0);
  });

  it('flags a VM started on both hosts (exit 1, RunningOn both) and a VM that runs nowhere', async () => {
    await start('hva', vm1);
    await start('hvb', vm1);
    const { exitCode, doc } = await verify();
    expect(exitCode).to.equal(1);
    expect(report(doc, vm1).RunningOn).to.deep.equal(['hva', 'hvb']);
    expect(doc.Problems).to.include('vm1 RUNS ON BOTH HOSTS (hva and hvb)');
    expect(doc.Problems).to.include('vm2 runs on no host');
    const text = await t.cli(['lab', 'verify', t.dir]);
    expect(text.exitCode).to.equal(1);
    expect(text.stdout).to.match(/vm1: runs on hva AND hvb/);
  });
});
