import { createHash, randomInt, randomUUID } from 'node:crypto';
import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, UsageError, VmmirrorError } from '../errors';
import { initHost } from '../config/init';
import { writeFileAtomic } from '../config/write';
import { createSimulatedHost, createSimulatedVm } from '../hypervisor/simulated';
import { runOk } from '../util/exec';
import { initWitness } from '../witness/config';
import { WitnessConfigFile } from '../witness/schema';
import { labEndpoints, type LabEndpoints } from './addresses';
import { checkSocketPath, labPaths } from './layout';
import { LAB_HOSTS, LabFile, type LabHost, type LabHostName, type LabModule } from './schema';

// `vmmirror lab create`: two simulated hosts and a witness under one folder, every VM registered on
// both hosts (one copy of its disk each), ready for `vmmirror lab start` (docs/lab.md).

export interface LabCreateOptions {
  dir: string;
  vms?: number;
  addresses?: string;
  heartbeatMs?: number;
  peerTimeoutMs?: number;
  intervalSeconds?: number;
  diskMiB?: number;
  seed?: number;
  writesPerSecond?: number;
  /**
   * Where each VM is registered: `both` (default: the replica VM waits, powered off, on the other
   * host) or `primary` (its default primary only: a takeover registers it from the configuration
   * the running host exported, docs/cluster.md "Registering the replica").
   */
  register?: 'both' | 'primary';
  /** Policies.Failback of every module (default auto): manual leaves a VM where a failover put it until `vmmirror failback`. */
  failback?: 'auto' | 'manual';
}

const MiB = 1024 * 1024;
const BLOCK_BYTES = MiB;

function bounded(option: string, v: number | undefined, lo: number, hi: number, fallback: number): number {
  const n = v ?? fallback;
  if (!Number.isInteger(n) || n < lo || n > hi) throw new UsageError(`${option} must be a whole number from ${lo} to ${hi}, got ${String(v)}`);
  return n;
}

// An empty or missing folder becomes a lab; a lab is never overwritten; anything else is refused,
// so a mistyped <dir> never fills someone's folder with identities and disks.
async function checkDirFree(dir: string, labFile: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') throw new VmmirrorError('LAB_DIR_NOT_EMPTY', `${dir} is a file, not a folder`, { details: { Path: dir } });
    throw e;
  }
  if (entries.length === 0) return;
  if (entries.includes('lab.json')) throw new ConfigError('IDENTITY_EXISTS', `${dir} is already a lab (${labFile}): start it with \`vmmirror lab start ${dir}\`, or remove the folder to make a new one`, { details: { Path: labFile } });
  throw new VmmirrorError('LAB_DIR_NOT_EMPTY', `${dir} is not empty and is not a lab: choose an empty or new folder`, { details: { Path: dir, Entries: entries.slice(0, 10) } });
}

/** A 32-bit number from the lab seed and a label: each VM's writer seed and MAC are reproducible from --seed. */
function derive(seed: number, label: string): number {
  return createHash('sha256').update(`${seed}:${label}`).digest().readUInt32BE(0);
}

function clusterFile(lab: { hosts: Record<LabHostName, LabHost>; witness: { address: string; port: number; fingerprint: string } }, self: LabHost, o: { heartbeatMs: number; peerTimeoutMs: number; intervalSeconds: number; failback: 'auto' | 'manual' }): unknown {
  return {
    ClusterName: 'lab',
    Hosts: LAB_HOSTS.map((h) => ({ Name: h, Address: lab.hosts[h].Address, Port: lab.hosts[h].Port, CertificateFingerprint: lab.hosts[h].CertificateFingerprint })),
    DataDirectory: self.DataDirectory,
    ModulesDirectory: 'modules',
    Witness: { Kind: 'Agent', Address: lab.witness.address, Port: lab.witness.port, CertificateFingerprint: lab.witness.fingerprint },
    Defaults: { Replication: { Interval: o.intervalSeconds, Compression: 'none' }, Policies: { Failback: o.failback } },
    Agent: { ControlSocket: self.ControlSocket, HeartbeatIntervalMs: o.heartbeatMs, PeerLossTimeoutMs: o.peerTimeoutMs, MaxConcurrentCycles: 2, BandwidthLimitBytesPerSecond: null },
    Hypervisor: { Driver: 'simulated', Options: { StateDirectory: self.SimDirectory } },
  };
}

export async function createLab(o: LabCreateOptions): Promise<LabFile> {
  const vms = bounded('--vms', o.vms, 1, 64, 4);
  const heartbeatMs = bounded('--heartbeat-ms', o.heartbeatMs, 100, 60_000, 1000);
  const peerTimeoutMs = bounded('--peer-timeout-ms', o.peerTimeoutMs, 500, 600_000, 5000);
  if (heartbeatMs * 2 > peerTimeoutMs) throw new UsageError(`--peer-timeout-ms (${peerTimeoutMs}) must be at least twice --heartbeat-ms (${heartbeatMs})`);
  const intervalSeconds = bounded('--interval', o.intervalSeconds, 1, 86_400, 2);
  const diskMiB = bounded('--disk-mib', o.diskMiB, 4, 65_536, 16);
  const rate = o.writesPerSecond ?? 20;
  if (!(rate >= 0 && rate <= 1000)) throw new UsageError(`--writes-per-second must be from 0 to 1000, got ${String(o.writesPerSecond)}`);
  const register = o.register ?? 'both';
  if (register !== 'both' && register !== 'primary') throw new UsageError(`--register must be both or primary, got ${JSON.stringify(o.register)}`);
  const failback = o.failback ?? 'auto';
  if (failback !== 'auto' && failback !== 'manual') throw new UsageError(`--failback must be auto or manual, got ${JSON.stringify(o.failback)}`);
  const seed = o.seed ?? randomInt(0, 2 ** 32 - 1);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new UsageError(`--seed must be a whole number from 0 to 4294967295, got ${String(o.seed)}`);
  const p = labPaths(o.dir);
  for (const h of LAB_HOSTS) checkSocketPath(p.host(h).socket);
  await checkDirFree(p.dir, p.labFile);
  const endpoints: LabEndpoints = await labEndpoints(o.addresses);

  await mkdir(p.dir, { recursive: true });
  for (const d of [p.runDir, p.logsDir]) await mkdir(d, { recursive: true });
  const hosts = {} as Record<LabHostName, LabHost>;
  for (const h of LAB_HOSTS) {
    const hp = p.host(h);
    const id = await initHost({ host: h, address: endpoints[h].address, port: endpoints[h].port, dir: hp.configDir });
    for (const d of [hp.dataDir, hp.disksDir]) await mkdir(d, { recursive: true });
    await createSimulatedHost(hp.simDir, { name: h });
    hosts[h] = {
      Name: h, ConfigDirectory: hp.configDir, DataDirectory: hp.dataDir, SimDirectory: hp.simDir, DisksDirectory: hp.disksDir,
      Address: endpoints[h].address, Port: endpoints[h].port, ControlSocket: hp.socket, CertificateFingerprint: id.fingerprint,
    };
  }
  const w = await initWitness({ dir: p.witnessDir, address: endpoints.witness.address, port: endpoints.witness.port, pins: LAB_HOSTS.map((h) => ({ Name: h, CertificateFingerprint: hosts[h].CertificateFingerprint })) });
  if (o.addresses !== undefined) {
    // Hosts in their own namespaces connect from their own address: name it, so the witness always
    // admits them (docs/witness.md). On loopback the source address is the kernel's choice: omitted.
    const doc = WitnessConfigFile.parse({ Address: w.address, Port: w.port, Hosts: LAB_HOSTS.map((h) => ({ Name: h, CertificateFingerprint: hosts[h].CertificateFingerprint, Address: hosts[h].Address })) });
    await writeFileAtomic(w.configFile, `${JSON.stringify({ Address: doc.Address, Port: doc.Port, Hosts: doc.Hosts }, null, 2)}\n`);
  }

  const modules: LabModule[] = [];
  for (let i = 0; i < vms; i++) {
    modules.push(await createLabVm(p, i, { seed, rate, diskBytes: diskMiB * MiB, register }));
  }
  for (const h of LAB_HOSTS) {
    const cluster = clusterFile({ hosts, witness: { address: w.address, port: w.port, fingerprint: w.fingerprint } }, hosts[h], { heartbeatMs, peerTimeoutMs, intervalSeconds, failback });
    await writeFileAtomic(join(hosts[h].ConfigDirectory, 'cluster.json'), `${JSON.stringify(cluster, null, 2)}\n`);
    for (const m of modules) await writeFileAtomic(join(hosts[h].ConfigDirectory, 'modules', `${m.Name}.json`), `${JSON.stringify(moduleFile(m, intervalSeconds, failback), null, 2)}\n`);
  }
  const lab = LabFile.parse({
    Version: 1, Directory: p.dir, CreatedAt: new Date().toISOString(), Seed: seed, ReplicationIntervalSeconds: intervalSeconds, HeartbeatIntervalMs: heartbeatMs, PeerLossTimeoutMs: peerTimeoutMs,
    Hosts: LAB_HOSTS.map((h) => hosts[h]), Witness: { Directory: w.dir, Address: w.address, Port: w.port, CertificateFingerprint: w.fingerprint }, Modules: modules,
  });
  // Written last: a folder without lab.json is not a lab, so a create that failed half-way is refused, never half-used.
  await writeFile(p.labFile, `${JSON.stringify(lab, null, 2)}\n`);
  return lab;
}

function copyOf(m: LabModule, host: LabHostName): string {
  return m.Copies.find((c) => c.Host === host)!.Path;
}

// The module file, the same on both hosts: Path is the default primary's copy, ReplicaPath the
// other host's. MaxBytes bounds what a replica may grow to: a qemu-made dynamic VHDX with 1 MiB
// blocks measures its virtual size plus 8 MiB (headers, log, metadata, BAT) when fully written.
function moduleFile(m: LabModule, intervalSeconds: number, failback: 'auto' | 'manual'): unknown {
  const other: LabHostName = m.DefaultPrimary === 'hva' ? 'hvb' : 'hva';
  return {
    Name: m.Name,
    VmName: m.VmName,
    VmId: m.VmId,
    Disks: [{ Path: copyOf(m, m.DefaultPrimary), ReplicaPath: copyOf(m, other), MaxBytes: m.DiskBytes + 16 * MiB }],
    DefaultPrimary: m.DefaultPrimary,
    Replication: { Interval: intervalSeconds },
    Policies: { Failback: failback },
  };
}

// One VM: a fresh dynamic VHDX on its default primary, a byte copy of it on the other host (the
// replica before any guest write), and the VM registered on both hosts with one id and one static
// MAC, each on its own copy: on the other host it is the replica VM that waits, powered off
// (with `register: 'primary'` only the default primary has it; the other host's copy waits alone).
async function createLabVm(p: ReturnType<typeof labPaths>, i: number, o: { seed: number; rate: number; diskBytes: number; register: 'both' | 'primary' }): Promise<LabModule> {
  const name = `vm${i + 1}`;
  const primary: LabHostName = LAB_HOSTS[i % 2]!;
  const other: LabHostName = primary === 'hva' ? 'hvb' : 'hva';
  const vmId = randomUUID();
  const mac = `00155D${(derive(o.seed, `mac:${i}`) & 0xffffff).toString(16).toUpperCase().padStart(6, '0')}`;
  const writer = { ratePerSecond: o.rate, unitsPerWrite: 1, seed: derive(o.seed, `writer:${i}`) };
  const paths = { hva: join(p.host('hva').disksDir, name, `${name}.vhdx`), hvb: join(p.host('hvb').disksDir, name, `${name}.vhdx`) };
  for (const h of LAB_HOSTS) await mkdir(join(p.host(h).disksDir, name), { recursive: true });
  await runOk('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', `subformat=dynamic,block_size=${BLOCK_BYTES}`, paths[primary], String(o.diskBytes)], { timeoutMs: 60_000 });
  await copyFile(paths[primary], paths[other]);
  for (const h of o.register === 'both' ? [primary, other] : [primary]) {
    await createSimulatedVm(p.host(h).simDir, { name: name.toUpperCase(), id: vmId, disks: [{ path: paths[h], format: 'VHDX' }], switchNames: ['LAN'], macAddresses: [mac], writer });
  }
  return {
    Name: name, VmName: name.toUpperCase(), VmId: vmId, DefaultPrimary: primary, MacAddress: mac,
    Writer: { RatePerSecond: writer.ratePerSecond, UnitsPerWrite: writer.unitsPerWrite, Seed: writer.seed },
    DiskBytes: o.diskBytes, Copies: LAB_HOSTS.map((h) => ({ Host: h, Path: paths[h] })),
  };
}
