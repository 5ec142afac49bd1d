import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { callAgent } from '../../src/agent/control/client';
import { StatusDocument } from '../../src/agent/control/documents';
import { controlEndpoint } from '../../src/agent/control/endpoint';
import { createSimulatedHypervisor, crashSimulatedHost, simulatedVmPids } from '../../src/hypervisor/simulated';
import { LabFile, type LabHostName } from '../../src/lab/schema';
import { vmmirror } from '../cli/vmmirror-process';
import { createNetnsLab, netnsAvailable, type NetnsHost, type NetnsLab } from '../helpers/netns';
import { tempDir } from '../helpers/tmp';
import { lifeOf, type Boot } from './history';
import { killLabProcess, spawnLabProcess, stopLabProcess, type LabProcess } from './processes';
import { RunSampler } from './sampler';

// The cluster under test: `vmmirror lab create` with each host and the witness at the address of its
// own network namespace (hva 10.231.0.1, hvb .2, witness .3), the processes started here inside
// those namespaces, a sampler of where each VM runs, and the faults: SIGKILL of a whole host or of
// its agent only, the witness down, pairwise cuts and whole-host isolation.

export type Node = LabHostName | 'witness';
export const FIGURES_DIR = join(tmpdir(), 'vmmirror-cluster-e2e-figures');
export const HOSTS: LabHostName[] = ['hva', 'hvb'];

export interface ClusterOptions {
  vms?: number;
  diskMib?: number;
  seed: number;
  /** `lab create --failback` (default: the lab's, auto). */
  failback?: 'auto' | 'manual';
}

export interface ClusterUnderTest {
  root: string;
  lab: LabFile;
  net: NetnsLab;
  ns: Record<Node, NetnsHost>;
  sampler: RunSampler;
  /** The log file of a lab process (witness, hva-agent, hva-guard, ...). */
  logFile(name: string): string;
  /** Pids of the running lab processes (witness, hva-agent, hva-guard, hvb-agent, hvb-guard). */
  pids(): Record<string, number | undefined>;
  startHost(h: LabHostName): Promise<void>;
  /** Starts the agent only (its guard still runs: after killAgent). */
  startAgent(h: LabHostName): Promise<void>;
  startWitness(): Promise<void>;
  startAll(): Promise<void>;
  /** SIGKILL of the host's agent and guard, then of its VM processes; returns the instant of the first kill. */
  killHost(h: LabHostName): Promise<number>;
  /** SIGKILL of the agent only: its guard and its VMs keep running. */
  killAgent(h: LabHostName): Promise<number>;
  killWitness(): Promise<number>;
  cut(x: Node, y: Node): void;
  heal(x: Node, y: Node): void;
  isolate(n: Node): void;
  rejoin(n: Node): void;
  /** Heals every cut and isolation, and starts every process that is not running. */
  restoreAll(): Promise<void>;
  /** `vmmirror status` of this host's agent (through its control socket). */
  status(h: LabHostName): Promise<StatusDocument>;
  /** Module name -> State, as this host's agent reports it. */
  states(h: LabHostName): Promise<Record<string, string | null>>;
  /** The VM's life over both hosts' logs. */
  life(vmId: string): Promise<Boot[]>;
  /** SIGTERM of every process, then a clean shutdown of every VM (so copies can be compared). */
  stopAll(): Promise<void>;
  /** Writes the figures as JSON under FIGURES_DIR (kept after cleanup) and returns the file's path. */
  saveFigures(name: string, figures: unknown): Promise<string>;
  cleanup(): Promise<void>;
}

/** Creates the lab (not started); throws when network namespaces cannot be made here. */
export async function clusterUnderTest(o: ClusterOptions): Promise<ClusterUnderTest> {
  if (!netnsAvailable()) throw new Error('network namespaces are unavailable (need root and iproute2)');
  const t = await tempDir('vmmirror-e2e-');
  const net = createNetnsLab(3);
  const [nsA, nsB, nsW] = net.hosts as [NetnsHost, NetnsHost, NetnsHost];
  const ns: Record<Node, NetnsHost> = { hva: nsA, hvb: nsB, witness: nsW };
  const dir = join(t.dir, 'lab');
  const args = ['lab', 'create', dir, '--json', '--addresses', `${nsA.address},${nsB.address},${nsW.address}`, '--vms', String(o.vms ?? 2), '--disk-mib', String(o.diskMib ?? 8), '--seed', String(o.seed), ...(o.failback !== undefined ? ['--failback', o.failback] : [])];
  const r = await vmmirror(args);
  if (r.exitCode !== 0) {
    net.cleanup();
    await t.cleanup();
    throw new Error(`vmmirror ${args.join(' ')} exited ${r.exitCode}: ${r.stdout}${r.stderr}`);
  }
  const lab = LabFile.parse(JSON.parse(r.stdout));
  const logsDir = join(t.dir, 'e2e-logs');
  await mkdir(logsDir, { recursive: true });
  const host = (h: LabHostName) => lab.Hosts.find((x) => x.Name === h)!;
  const sampler = new RunSampler(lab.Hosts.map((h) => ({ name: h.Name, simDir: h.SimDirectory })));
  const procs = new Map<string, LabProcess>();
  const cuts = new Set<string>();
  const isolated = new Set<Node>();
  const take = (name: string): LabProcess | null => {
    const p = procs.get(name) ?? null;
    procs.delete(name);
    return p;
  };
  const spawnOne = async (name: string, spawnNs: NetnsHost, kind: 'witness' | 'agent' | 'guard', d: string, dataDir?: string): Promise<void> => {
    if (procs.has(name)) throw new Error(`${name} already runs`);
    procs.set(name, await spawnLabProcess({ net, ns: spawnNs, kind, dir: d, dataDir, logsDir, name }));
  };
  const c: ClusterUnderTest = {
    root: t.dir,
    lab,
    net,
    ns,
    sampler,
    logFile: (name) => join(logsDir, `${name}.log`),
    pids: () => Object.fromEntries([...procs].map(([name, p]) => [name, p.proc.pid])),
    async startHost(h) {
      // The guard first: from the agent's first lease on, something that does not depend on it watches its VMs.
      await spawnOne(`${h}-guard`, ns[h], 'guard', host(h).ConfigDirectory, host(h).DataDirectory);
      await spawnOne(`${h}-agent`, ns[h], 'agent', host(h).ConfigDirectory);
    },
    async startAgent(h) {
      await spawnOne(`${h}-agent`, ns[h], 'agent', host(h).ConfigDirectory);
    },
    async startWitness() {
      await spawnOne('witness', nsW, 'witness', lab.Witness.Directory);
    },
    async startAll() {
      await c.startWitness();
      await Promise.all(HOSTS.map((h) => c.startHost(h)));
    },
    async killHost(h) {
      const at = performance.now();
      const agent = take(`${h}-agent`);
      const guard = take(`${h}-guard`);
      agent?.proc.kill('SIGKILL');
      guard?.proc.kill('SIGKILL');
      await crashSimulatedHost(host(h).SimDirectory);
      await Promise.all([killLabProcess(agent), killLabProcess(guard)]);
      // A VM the agent was starting at the kill is caught by the host epoch; prove none survived.
      const left = await simulatedVmPids(host(h).SimDirectory);
      if (left.length > 0) throw new Error(`VM processes of ${h} survived the crash: ${JSON.stringify(left)}`);
      return at;
    },
    async killAgent(h) {
      const at = performance.now();
      await killLabProcess(take(`${h}-agent`));
      return at;
    },
    async killWitness() {
      const at = performance.now();
      await killLabProcess(take('witness'));
      return at;
    },
    cut: (x, y) => {
      net.cut(ns[x], ns[y]);
      cuts.add([x, y].sort().join('|'));
    },
    heal: (x, y) => {
      net.heal(ns[x], ns[y]);
      cuts.delete([x, y].sort().join('|'));
    },
    isolate: (n) => {
      net.partition(ns[n]);
      isolated.add(n);
    },
    rejoin: (n) => {
      net.heal(ns[n]);
      isolated.delete(n);
    },
    async restoreAll() {
      for (const k of [...cuts]) c.heal(...(k.split('|') as [Node, Node]));
      for (const n of [...isolated]) c.rejoin(n);
      if (!procs.has('witness')) await c.startWitness();
      for (const h of HOSTS) {
        if (!procs.has(`${h}-guard`)) await spawnOne(`${h}-guard`, ns[h], 'guard', host(h).ConfigDirectory, host(h).DataDirectory);
        if (!procs.has(`${h}-agent`)) await c.startAgent(h);
      }
    },
    async status(h) {
      return StatusDocument.parse(await callAgent({ ...(await controlEndpoint(host(h).ConfigDirectory)), timeoutMs: 5000 }, 'GET', '/v1/status'));
    },
    async states(h) {
      return Object.fromEntries((await c.status(h)).Modules.map((m) => [m.Name, m.State]));
    },
    life: (vmId) => lifeOf(lab.Hosts.map((h) => ({ host: h.Name, simDir: h.SimDirectory })), vmId),
    async stopAll() {
      await Promise.all([...procs.keys()].map((name) => stopLabProcess(take(name))));
      for (const h of lab.Hosts) {
        const hv = createSimulatedHypervisor(h.SimDirectory);
        for (const { vmId } of await simulatedVmPids(h.SimDirectory)) await hv.stopVm(vmId, 'Shutdown', { timeoutMs: 20_000 });
      }
    },
    async saveFigures(name, figures) {
      // Beside the lab's folder, not in it: the figures outlive the test's cleanup, for the closing note.
      await mkdir(FIGURES_DIR, { recursive: true });
      const path = join(FIGURES_DIR, `${name}-seed${o.seed}-${new Date().toISOString().replace(/[:.]/g, '')}.json`);
      await writeFile(path, `${JSON.stringify({ scenario: name, seed: o.seed, lab: dir, ...(figures as object) }, null, 2)}\n`);
      return path;
    },
    async cleanup() {
      await sampler.stop();
      await Promise.all([...procs.keys()].map((name) => killLabProcess(take(name))));
      for (const h of lab.Hosts) await crashSimulatedHost(h.SimDirectory).catch(() => undefined);
      net.cleanup();
      if (process.env.VMMIRROR_KEEP_TEST_DIRS === undefined) await t.cleanup();
      else process.stderr.write(`      kept ${t.dir}\n`);
    },
  };
  return c;
}
