import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSimulatedHypervisor } from '../../src/hypervisor/simulated';
import { leasePath } from '../../src/guard/lease-file';
import { LabVerifyOutput, type LabHostName } from '../../src/lab/schema';
import { cliNodeArgs } from '../cli/vmmirror-process';
import { qemuCompare } from '../helpers/qemu';
import { seeded } from '../helpers/seed';
import { steadyAdversaryLab, expectSafe, waitRunning, waitSteady, type AdversaryLab } from './adversary-lab';

// Adversarial review, item 3 (issue 8): damaged state under <DataDirectory>: the module records
// (cluster/<module>.json) and the guard's lease (guard/lease.json), then a restart. What must hold:
// a clear error, or behaviour that is safe; never a silent default that runs a VM twice or starts
// a stale copy. vm1's default primary is hva, vm2's is hvb.

/** Seeded garbage: bytes that are not a record (some printable, some not). */
function garble(rand: () => number, text: string): string {
  const cut = Math.floor(rand() * text.length);
  return `${text.slice(0, cut)}\u0000${Math.floor(rand() * 1e9).toString(36)}}{`;
}

/** `vmmirror guard --dir` started by the test (as the host's scheduled task would after a reboot), logging into the lab's guard log. */
function startGuard(a: AdversaryLab, h: LabHostName): { proc: ChildProcess; kill: () => Promise<void> } {
  const proc = spawn(process.execPath, cliNodeArgs(['guard', '--dir', a.configDir(h)]), { env: { ...process.env, VMMIRROR_LOG_LEVEL: 'info', VMMIRROR_LOG_FILE: a.logFile(`${h}-guard`) }, stdio: 'ignore' });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return {
    proc,
    kill: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** Waits until the guard started by the test has written its status file (it polls the lease). */
async function guardReady(a: AdversaryLab, h: LabHostName, pid: number): Promise<void> {
  const deadline = performance.now() + 30_000;
  for (;;) {
    const s = await readFile(join(a.dataDir(h), 'guard', 'guard.json'), 'utf8').then((t) => JSON.parse(t) as { Pid?: number }, () => ({ Pid: undefined }));
    if (s.Pid === pid) return;
    if (performance.now() > deadline) throw new Error(`the guard of ${h} did not start`);
    await sleep(50);
  }
}

describe('adversarial: damaged records and leases, then a restart', function () {
  this.timeout(400_000);
  const rnd = seeded('adversarial state');
  let a: AdversaryLab;
  const figures: Record<string, unknown> = {};
  before(async () => {
    process.stderr.write(`      seed ${rnd.seed}\n`);
    a = await steadyAdversaryLab(rnd.seed);
  });
  after(async () => {
    process.stderr.write(`      FIGURES adversarial-state seed ${rnd.seed}: ${JSON.stringify(figures)}\n`);
    await a?.cleanup();
  });

  it("3a. hvb's records truncated (vm1) and garbled (vm2): the agent refuses to start (CLUSTER_STATE_INVALID); its VM is fenced and taken over; after the operator removes the records as told, hvb comes back with no stale copy", async () => {
    const t0 = performance.now();
    await a.killNow('hvb-agent');
    const dir = join(a.dataDir('hvb'), 'cluster');
    await writeFile(join(dir, 'vm1.json'), '');
    await writeFile(join(dir, 'vm2.json'), garble(rnd.rand, await readFile(join(dir, 'vm2.json'), 'utf8')));
    const r = await a.cli(['lab', 'start', a.dir, 'hvb']);
    expect(r.exitCode, 'lab start of an agent with damaged records').to.not.equal(0);
    expect(r.stdout + r.stderr, 'the error names its code').to.contain('CLUSTER_STATE_INVALID');
    // vm2 ran on hvb: its guard turns it off at the end of the dead agent's lease, then hva takes it.
    await waitRunning(a, { vm1: 'hva', vm2: 'hva' }, 'vm2 taken over by hva', 60_000);
    await expectSafe(a, 'damaged records', t0);
    // The operator checks where the VMs run (hva) and removes the damaged records, as the error says.
    await rm(join(dir, 'vm1.json'));
    await rm(join(dir, 'vm2.json'));
    await a.start('hvb');
    await waitSteady(a, 'hvb back without its records', 60_000);
    await sleep(2000);
    await expectSafe(a, 'records removed', t0);
  });

  it("3b. hva's guard lease garbled while its agent is down, agent restarted at once: nothing runs twice", async () => {
    const t0 = performance.now();
    const path = leasePath(a.dataDir('hva'));
    await a.killNow('hva-agent');
    await writeFile(path, garble(rnd.rand, await readFile(path, 'utf8')));
    await a.start('hva');
    await sleep(6000);
    figures.garbledLeaseRestart = { vm1Moves: a.sampler.changes(a.vmOf('vm1'), t0).map((c) => `${c.from.join('+') || 'none'}>${c.to.join('+') || 'none'}`) };
    await waitSteady(a, 'after the garbled lease', 60_000);
    await expectSafe(a, 'garbled lease, agent restarted', t0);
  });

  it("3c. hvb's agent and guard die, the lease is garbled, the guard alone comes back: vm2 is off before hva starts it", async () => {
    await waitSteady(a, 'before the case', 60_000);
    const t0 = performance.now();
    const path = leasePath(a.dataDir('hvb'));
    await a.killNow('hvb-agent');
    await a.killNow('hvb-guard');
    await writeFile(path, garble(rnd.rand, await readFile(path, 'utf8')));
    const guard = startGuard(a, 'hvb');
    try {
      await guardReady(a, 'hvb', guard.proc.pid!);
      // hva takes vm2 over once hvb's lease at the witness has run out; by then hvb's guard must have turned it off.
      await a.sampler.waitFor('vm2 on hva', (s) => (s.running.get(a.vmOf('vm2')) ?? []).includes('hva'), 30_000);
      await sleep(1500);
      const fenced = (await a.logLines('hvb-guard', 'guard-fence')).filter((l) => l.module === 'vm2' && (l.time as number) >= Date.now() - (performance.now() - t0));
      figures.guardRestartGarbledLease = { guardFencedVm2: fenced.length, vm2On: a.sampler.runningNow(a.vmOf('vm2')) };
      expect(a.sampler.overlaps().filter((o) => o.at >= t0).length, `samples with vm2 on both hosts (hvb's guard fenced it ${fenced.length} time(s))`).to.equal(0);
    } finally {
      await guard.kill();
      // Whatever happened, hvb comes back whole: its agent fences what runs on a stale epoch.
      await a.start('hvb');
    }
    await waitSteady(a, 'hvb back', 60_000);
    await expectSafe(a, 'guard restart, lease garbled', t0);
  });

  it("3d. hvb reboots (everything dies) leaving the lease of its previous boot (a monotonic clock a day ahead); after it is back, its agent dies: its guard must still fence vm2 before hva starts it", async () => {
    await waitSteady(a, 'before the case', 60_000);
    const path = leasePath(a.dataDir('hvb'));
    await a.crash('hvb');
    // After a reboot the host's monotonic clock starts again near zero: the lease the previous boot
    // wrote names instants far ahead of the new clock. Same file, as if the previous boot had run a day longer.
    const l = JSON.parse(await readFile(path, 'utf8')) as { RunnableUntilMono: number; WrittenAtMono: number };
    await writeFile(path, `${JSON.stringify({ ...l, RunnableUntilMono: l.RunnableUntilMono + 86_400_000, WrittenAtMono: l.WrittenAtMono + 86_400_000 })}\n`);
    await a.start('hvb');
    await waitSteady(a, 'hvb back after its reboot', 60_000);
    const quorum = (await a.status('hvb')).Quorum;
    const t0 = await a.killNow('hvb-agent');
    try {
      await a.sampler.waitFor('vm2 on hva', (s) => (s.running.get(a.vmOf('vm2')) ?? []).includes('hva'), 30_000);
      await sleep(1500);
      const fenced = (await a.logLines('hvb-guard', 'guard-fence')).filter((x) => x.module === 'vm2' && (x.time as number) >= Date.now() - (performance.now() - t0));
      figures.rebootLease = { runnableForMsAfterReboot: quorum.RunnableForMs, guardFencedVm2: fenced.length, vm2On: a.sampler.runningNow(a.vmOf('vm2')) };
      expect(a.sampler.overlaps().filter((o) => o.at >= t0).length, `samples with vm2 on both hosts (hvb's guard fenced it ${fenced.length} time(s))`).to.equal(0);
      expect(quorum.RunnableForMs, "hvb's own idea of how long it may run after the reboot (a lease lasts 5 s)").to.be.below(10_000);
    } finally {
      await a.start('hvb');
    }
    await waitSteady(a, 'hvb back', 60_000);
    await expectSafe(a, 'lease of a previous boot', t0);
  });

  it('at the end, writers paused, last cycles forced, lab stopped: every copy verifies and the two copies of each VM are equal (qemu-img compare)', async () => {
    await waitSteady(a, 'before the stop', 60_000);
    for (const m of a.lab.Modules) {
      await createSimulatedHypervisor(a.simDir(m.DefaultPrimary)).setWriter(m.VmId, { ratePerSecond: 0 });
      const s = await a.cli(['sync', m.Name, '--dir', a.configDir(m.DefaultPrimary), '--timeout', '60']);
      expect(s.exitCode, `sync ${m.Name}: ${s.stdout}${s.stderr}`).to.equal(0);
    }
    a.epochs.stop();
    const stop = await a.cli(['lab', 'stop', a.dir]);
    expect(stop.exitCode, stop.stdout + stop.stderr).to.equal(0);
    const v = LabVerifyOutput.parse(JSON.parse((await a.cli(['lab', 'verify', a.dir, '--stopped', '--json'])).stdout));
    expect(v.Problems).to.deep.equal([]);
    for (const m of a.lab.Modules) {
      const [x, y] = m.Copies;
      const cmp = await qemuCompare(x!.Path, y!.Path);
      expect(cmp.same, `${m.Name}: qemu-img compare of the two copies: ${cmp.output}`).to.equal(true);
    }
  });
});
