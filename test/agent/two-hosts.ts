import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { callAgent } from '../../src/agent/control/client';
import { StatusDocument, SyncReport } from '../../src/agent/control/documents';
import { controlEndpoint } from '../../src/agent/control/endpoint';
import { initHost } from '../../src/config/init';
import { createSimulatedHost, createSimulatedHypervisor, createSimulatedVm, crashSimulatedHost, type SimulatedHypervisor } from '../../src/hypervisor/simulated';
import { createVhdx } from '../helpers/qemu';
import { tempDir } from '../helpers/tmp';
import { cliNodeArgs } from '../cli/vmmirror-process';
import { createNetnsLab, netnsAvailable, type NetnsHost } from '../helpers/netns';

// Two hosts (two config dirs, two data dirs, two loopback addresses), a simulated VM on the first
// with a qemu-made VHDX, and the real `vmmirror agent` processes. Used by the agent's end-to-end tests.

export interface HostUnderTest {
  name: string;
  /** Network namespace the agent runs in (null: the root namespace, loopback addresses). */
  netns: NetnsHost | null;
  /** Control API socket (always a Unix socket: it reaches into a namespace). */
  controlSocket: string;
  dir: string;
  address: string;
  port: number;
  controlPort: number;
  dataDir: string;
  logFile: string;
  proc: ChildProcess | null;
  exited: Promise<number | null> | null;
}

export interface TwoHosts {
  root: string;
  /** True when the agents run in two network namespaces joined by a bridge. */
  isolated: boolean;
  a: HostUnderTest;
  b: HostUnderTest;
  simDir: string;
  sim: SimulatedHypervisor;
  vmId: string;
  diskPath: string;
  replicaPath: string;
  reverse: ReverseModule | null;
  start(h: HostUnderTest, env?: Record<string, string>, args?: string[]): Promise<void>;
  waitConnected(): Promise<void>;
  kill(h: HostUnderTest, signal: NodeJS.Signals): Promise<number | null>;
  status(h: HostUnderTest): Promise<StatusDocument>;
  sync(h: HostUnderTest, module?: string): Promise<SyncReport>;
  cleanup(): Promise<void>;
}

/** Waits until the VM runs (the cluster layer starts a module's VM on its owner). */
export async function waitRunning(sim: SimulatedHypervisor, vmId: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await sim.getVm(vmId))?.state !== 'Running') {
    if (Date.now() > deadline) throw new Error(`VM ${vmId} did not start within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** A free TCP port on `address` (the OS picks it; not a random choice of ours). */
export async function freePort(address: string): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(0, address, () => resolve()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

async function hostFor(root: string, name: string, netns: NetnsHost | null, loopback: string): Promise<HostUnderTest> {
  const dir = join(root, name, 'config');
  const address = netns?.address ?? loopback;
  return {
    name,
    netns,
    controlSocket: join(root, name, 'control.sock'),
    dir,
    address,
    // A fresh namespace has every port free; on loopback the OS picks one.
    port: netns !== null ? 7420 : await freePort(address),
    controlPort: 0,
    dataDir: join(root, name, 'data'),
    logFile: join(root, `${name}.log`),
    proc: null,
    exited: null,
  };
}

export interface TwoHostOptions {
  diskBytes?: number;
  compression?: 'none' | 'deflate' | 'brotli';
  bandwidth?: number | null;
  blockSize?: number;
  /** Run each agent in its own network namespace (default: when this process may create them). */
  netns?: boolean;
  /** Replication.Interval of web1 (default hourly: tests drive cycles with sync). */
  interval?: number | string;
  /** Also a VM on the second host, module db1 with DefaultPrimary hvb (active-active). */
  reverseModule?: boolean;
}

/** The module running the other way (present when reverseModule was asked for). */
export interface ReverseModule {
  sim: SimulatedHypervisor;
  vmId: string;
  diskPath: string;
  replicaPath: string;
}

// Namespaces unless the test opts out. Without them (not root, no iproute2) the agents fall back
// to loopback addresses, loudly, and never under CI, where the namespaced run is the one that counts.
function useNetns(asked: boolean | undefined): boolean {
  if (asked === false) return false;
  if (netnsAvailable()) return true;
  if (asked === true || process.env.CI) throw new Error('network namespaces are unavailable (need root and iproute2); CI must run the agent tests in namespaces');
  process.stderr.write('      (network namespaces unavailable: the agents run on loopback addresses)\n');
  return false;
}

/** Sets up both hosts (not started). */
export async function twoHosts(o: TwoHostOptions = {}): Promise<TwoHosts> {
  const t = await tempDir('vmmirror-agent-');
  const lab = useNetns(o.netns) ? createNetnsLab(2) : null;
  const a = await hostFor(t.dir, 'hva', lab?.hosts[0] ?? null, '127.0.0.2');
  const b = await hostFor(t.dir, 'hvb', lab?.hosts[1] ?? null, '127.0.0.3');
  const ida = await initHost({ host: a.name, address: a.address, port: a.port, dir: a.dir });
  const idb = await initHost({ host: b.name, address: b.address, port: b.port, dir: b.dir });
  const simDir = join(t.dir, 'hva', 'sim');
  await createSimulatedHost(simDir, { name: 'hva' });
  await mkdir(join(t.dir, 'hva', 'vms'), { recursive: true });
  const diskPath = join(t.dir, 'hva', 'vms', 'web1-os.vhdx');
  await createVhdx(diskPath, { sizeBytes: o.diskBytes ?? 8 * 1024 * 1024, subformat: 'dynamic', blockSizeBytes: 1024 * 1024 });
  const vmId = await createSimulatedVm(simDir, { name: 'WEB1', disks: [{ path: diskPath, format: 'VHDX' }] });
  for (const h of [a, b]) {
    const cluster = {
      ClusterName: 'lab',
      Hosts: [
        { Name: a.name, Address: a.address, Port: a.port, CertificateFingerprint: ida.fingerprint },
        { Name: b.name, Address: b.address, Port: b.port, CertificateFingerprint: idb.fingerprint },
      ],
      DataDirectory: h.dataDir,
      Agent: { ControlSocket: h.controlSocket, HeartbeatIntervalMs: 200, PeerLossTimeoutMs: 2000, MaxConcurrentCycles: 2, BandwidthLimitBytesPerSecond: o.bandwidth ?? null },
      Hypervisor: { Driver: 'simulated', Options: { StateDirectory: h === a ? simDir : join(t.dir, 'hvb', 'sim') } },
    };
    await writeFile(join(h.dir, 'cluster.json'), JSON.stringify(cluster, null, 2));
    const module = {
      Name: 'web1',
      VmName: 'WEB1',
      VmId: vmId,
      // The host without the VM has no other source for the bound its copy may grow to (DESIGN I4).
      Disks: [{ Path: diskPath, MaxBytes: (o.diskBytes ?? 8 * 1024 * 1024) * 2 + 64 * 1024 * 1024 }],
      DefaultPrimary: a.name,
      // Hourly unless asked: the tests drive cycles with `vmmirror sync`, so the schedule never races them.
      Replication: { Interval: o.interval ?? '0 0 * * * *', Compression: o.compression ?? 'none', ...(o.blockSize !== undefined ? { BlockSize: o.blockSize } : {}) },
    };
    await writeFile(join(h.dir, 'modules', 'web1.json'), JSON.stringify(module, null, 2));
  }
  await createSimulatedHost(join(t.dir, 'hvb', 'sim'), { name: 'hvb' });
  let reverse: ReverseModule | null = null;
  if (o.reverseModule === true) {
    const simB = join(t.dir, 'hvb', 'sim');
    await mkdir(join(t.dir, 'hvb', 'vms'), { recursive: true });
    const diskB = join(t.dir, 'hvb', 'vms', 'db1.vhdx');
    await createVhdx(diskB, { sizeBytes: 4 * 1024 * 1024, subformat: 'dynamic', blockSizeBytes: 1024 * 1024 });
    const vmIdB = await createSimulatedVm(simB, { name: 'DB1', disks: [{ path: diskB, format: 'VHDX' }] });
    const db1 = { Name: 'db1', VmName: 'DB1', VmId: vmIdB, Disks: [{ Path: diskB, MaxBytes: 72 * 1024 * 1024 }], DefaultPrimary: b.name, Replication: { Interval: '0 0 * * * *', Compression: 'brotli' } };
    for (const h of [a, b]) await writeFile(join(h.dir, 'modules', 'db1.json'), JSON.stringify(db1, null, 2));
    reverse = { sim: createSimulatedHypervisor(simB), vmId: vmIdB, diskPath: diskB, replicaPath: join(a.dataDir, 'replicas', 'db1', 'db1.vhdx') };
  }
  const sim = createSimulatedHypervisor(simDir);

  const start = async (h: HostUnderTest, env: Record<string, string> = {}, extra: string[] = []): Promise<void> => {
    const options = { env: { ...process.env, VMMIRROR_LOG_LEVEL: process.env.AGENT_LOG_LEVEL ?? 'info', VMMIRROR_LOG_FILE: h.logFile, ...env }, stdio: ['ignore', 'pipe', 'pipe'] as Array<'ignore' | 'pipe'> };
    const args = cliNodeArgs(['agent', '--dir', h.dir, '--json', ...extra]);
    // `ip netns exec` execs node in place, so the child's pid is the agent's (signals reach it).
    const proc = h.netns !== null && lab !== null ? lab.spawnIn(h.netns, process.execPath, args, options) : spawn(process.execPath, args, options);
    const err = createWriteStream(`${h.logFile}.stderr`, { flags: 'a' });
    proc.stderr!.pipe(err);
    proc.stdout!.resume();
    h.proc = proc;
    h.exited = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await callAgent({ ...(await controlEndpoint(h.dir)), timeoutMs: 2000 }, 'GET', '/v1/status');
        return;
      } catch (e) {
        if (proc.exitCode !== null) throw new Error(`agent ${h.name} exited with ${proc.exitCode} (see ${h.logFile})`);
        if (Date.now() > deadline) throw e;
        await sleep(100);
      }
    }
  };
  const status = async (h: HostUnderTest): Promise<StatusDocument> => StatusDocument.parse(await callAgent(await controlEndpoint(h.dir), 'GET', '/v1/status'));
  return {
    root: t.dir,
    isolated: lab !== null,
    a,
    b,
    simDir,
    sim,
    vmId,
    diskPath,
    replicaPath: join(b.dataDir, 'replicas', 'web1', 'web1-os.vhdx'),
    reverse,
    start,
    status,
    async waitConnected() {
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        const [sa, sb] = await Promise.all([status(a), status(b)]);
        // Reachable, and every module settled: PRIM on the host that runs it, SECOND on the other.
        const settled = sa.Modules.every((m) => {
          const other = sb.Modules.find((x) => x.Name === m.Name);
          return (m.State === 'PRIM' && other?.State === 'SECOND') || (m.State === 'SECOND' && other?.State === 'PRIM');
        });
        if (sa.Hosts.every((x) => x.Reachable) && sb.Hosts.every((x) => x.Reachable) && settled) return;
        await sleep(100);
      }
      const [sa, sb] = await Promise.all([status(a), status(b)]);
      throw new Error(`agents did not see each other and settle within 20 s: ${JSON.stringify(sa.Modules.map((m) => [m.Name, m.State, m.WaitReason]))} / ${JSON.stringify(sb.Modules.map((m) => [m.Name, m.State, m.WaitReason]))}`);
    },
    async kill(h, signal) {
      if (h.proc === null || h.exited === null) return null;
      h.proc.kill(signal);
      const code = await h.exited;
      h.proc = null;
      return code;
    },
    async sync(h, module = 'web1') {
      return SyncReport.parse(await callAgent({ ...(await controlEndpoint(h.dir)), timeoutMs: 120_000 }, 'POST', `/v1/modules/${module}/sync`));
    },
    async cleanup() {
      for (const h of [a, b]) {
        if (h.proc !== null) {
          h.proc.kill('SIGKILL');
          await h.exited;
          h.proc = null;
        }
      }
      await crashSimulatedHost(simDir).catch(() => undefined);
      await crashSimulatedHost(join(t.dir, 'hvb', 'sim')).catch(() => undefined);
      lab?.cleanup();
      if (process.env.VMMIRROR_KEEP_TEST_DIRS === undefined) await t.cleanup();
    },
  };
}
