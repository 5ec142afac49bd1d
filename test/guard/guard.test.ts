import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { initHost } from '../../src/config/init';
import { writeGuardLease, leasePath } from '../../src/guard/lease-file';
import { createSimulatedHost, createSimulatedHypervisor, createSimulatedVm, type SimulatedHypervisor } from '../../src/hypervisor/simulated';
import { createHostIdentity } from '../../src/peer/certs';
import { monoNow } from '../../src/util/mono';
import { cliNodeArgs } from '../cli/vmmirror-process';
import { tempDir } from '../helpers/tmp';

// The real `vmmirror guard` process against simulated VMs (real processes writing real VHDX
// files): it leaves them alone while the lease is renewed and turns them off once it runs out,
// with no agent anywhere, and after its own restart.

describe('vmmirror guard (a separate process fences when the lease runs out)', function () {
  this.timeout(90_000);
  let root: { dir: string; cleanup(): Promise<void> };
  let configDir: string;
  let dataDir: string;
  let sim: SimulatedHypervisor;
  let vms: string[];
  let guard: ChildProcess | null = null;

  before(async () => {
    root = await tempDir('vmmirror-guard-');
    configDir = join(root.dir, 'config');
    dataDir = join(root.dir, 'data');
    const simDir = join(root.dir, 'sim');
    const id = await initHost({ host: 'hva', address: '127.0.0.2', dir: configDir });
    const peer = createHostIdentity('hvb');
    const cluster = {
      ClusterName: 'lab',
      Hosts: [
        { Name: 'hva', Address: '127.0.0.2', Port: 7420, CertificateFingerprint: id.fingerprint },
        { Name: 'hvb', Address: '127.0.0.3', Port: 7420, CertificateFingerprint: peer.fingerprint },
      ],
      DataDirectory: dataDir,
      Hypervisor: { Driver: 'simulated', Options: { StateDirectory: simDir } },
    };
    await writeFile(join(configDir, 'cluster.json'), JSON.stringify(cluster));
    await createSimulatedHost(simDir, { name: 'hva' });
    sim = createSimulatedHypervisor(simDir);
    vms = [];
    for (const name of ['web', 'db', 'other']) vms.push(await createSimulatedVm(simDir, { name, disks: [{ sizeBytes: 2 * 1024 * 1024, subformat: 'dynamic' }] }));
    // One module (web): what the guard fences when it starts to find the lease file damaged.
    await mkdir(join(configDir, 'modules'), { recursive: true });
    await writeFile(join(configDir, 'modules', 'web.json'), JSON.stringify({ Name: 'web', VmName: 'web', VmId: vms[0], Disks: [{ Path: join(root.dir, 'web.vhdx'), MaxBytes: 64 * 1024 * 1024 }], DefaultPrimary: 'hva' }));
  });

  after(async () => {
    guard?.kill('SIGKILL');
    for (const v of vms) await sim.stopVm(v, 'TurnOff', { timeoutMs: 10_000 }).catch(() => undefined);
    await root.cleanup();
  });

  // Started, and up: its status file names its pid (written once it has read the lease).
  const startGuard = async (): Promise<ChildProcess> => {
    const p = spawn(process.execPath, cliNodeArgs(['guard', '--dir', configDir]), { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, VMMIRROR_LOG_LEVEL: 'error' } });
    guard = p;
    for (;;) {
      const status = await readFile(join(dataDir, 'guard', 'guard.json'), 'utf8').then((t) => JSON.parse(t) as { Pid: number }, () => null);
      if (status?.Pid === p.pid) return p;
      if (p.exitCode !== null) throw new Error(`guard exited with ${p.exitCode}`);
      await sleep(20);
    }
  };
  const state = async (v: string): Promise<string> => (await sim.getVm(v))?.state ?? 'gone';
  const lease = (until: number | null, list: string[]) =>
    writeGuardLease(dataDir, { Version: 1, Host: 'hva', AgentPid: process.pid, RunnableUntilMono: until, Vms: list.map((v, i) => ({ Module: `m${i}`, VmId: v })), WrittenAtMono: monoNow() });

  it('keeps VMs running while the lease is renewed, and turns off exactly the listed ones once it runs out', async () => {
    for (const v of vms) await sim.startVm(v, { timeoutMs: 20_000, waitHeartbeat: true });
    // No lease runs longer than PeerLossTimeoutMs (5 s) past its writing: a longer one is from another clock.
    await lease(monoNow() + 4000, vms.slice(0, 2));
    await startGuard();
    // Renewed five times, 300 ms apart: nothing may stop.
    for (let i = 0; i < 5; i++) {
      await sleep(300);
      await lease(monoNow() + 1500, vms.slice(0, 2));
    }
    const deadline = monoNow() + 3000;
    await lease(deadline, vms.slice(0, 2));
    await sleep(1000);
    const seen = [await state(vms[0]), await state(vms[1])];
    expect(monoNow(), 'observed inside the lease').to.be.below(deadline);
    expect(seen, 'renewed, then inside the last lease: nothing stopped').to.deep.equal(['Running', 'Running']);
    // The agent is gone (it never renews again): both listed VMs must be Off soon after the deadline.
    let offAt = 0;
    while (monoNow() < deadline + 10_000) {
      if ((await state(vms[0])) === 'Off' && (await state(vms[1])) === 'Off') {
        offAt = monoNow();
        break;
      }
      await sleep(20);
    }
    expect(offAt, 'both listed VMs off within 10 s of the deadline').to.be.greaterThan(0);
    process.stderr.write(`      guard: VMs off ${offAt - deadline} ms after the lease's deadline\n`);
    expect(offAt - deadline).to.be.at.least(0);
    expect(await state(vms[2]), 'a VM the lease does not list is left alone').to.equal('Running');
  });

  it('fences after its own restart from the lease file alone, and a damaged file is no renewal', async () => {
    guard?.kill('SIGKILL');
    for (const v of vms.slice(0, 2)) if ((await state(v)) !== 'Running') await sim.startVm(v, { timeoutMs: 20_000, waitHeartbeat: true });
    await lease(monoNow() + 4000, vms.slice(0, 2));
    await startGuard();
    const deadline = monoNow() + 1500;
    await writeFile(leasePath(dataDir), JSON.stringify({ Version: 1, Host: 'hva', AgentPid: 1, RunnableUntilMono: deadline, Vms: [{ Module: 'm0', VmId: vms[0] }, { Module: 'm1', VmId: vms[1] }], WrittenAtMono: monoNow() }));
    await sleep(300);
    await writeFile(leasePath(dataDir), '{"Version":1,"Host":"hva"'); // damaged: no renewal
    guard?.kill('SIGKILL');
    await startGuard(); // knows no lease now, only the damaged file: fences the module's VM at once
    let off = false;
    while (monoNow() < deadline + 10_000 && !off) {
      off = (await state(vms[0])) === 'Off';
      await sleep(20);
    }
    expect(off, 'the restarted guard turned the module VM off').to.equal(true);
    expect(await state(vms[2]), 'a VM no module names is left alone').to.equal('Running');
  });

  it("fences at once the VMs of a lease written on another clock (a previous boot's, which looks valid far ahead)", async () => {
    guard?.kill('SIGKILL');
    if ((await state(vms[1])) !== 'Running') await sim.startVm(vms[1], { timeoutMs: 20_000, waitHeartbeat: true });
    const dayAhead = monoNow() + 86_400_000;
    await writeFile(leasePath(dataDir), JSON.stringify({ Version: 1, Host: 'hva', AgentPid: 1, RunnableUntilMono: dayAhead + 3000, Vms: [{ Module: 'm1', VmId: vms[1] }], WrittenAtMono: dayAhead }));
    await startGuard();
    const t0 = monoNow();
    while ((await state(vms[1])) !== 'Off' && monoNow() - t0 < 10_000) await sleep(20);
    expect(await state(vms[1])).to.equal('Off');
  });
});
