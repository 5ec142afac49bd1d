import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClusterFile } from './cluster';
import { resolveHealthPolicy } from './common';
import type { HostLocalFile } from './host-local';
import { fromConfigDir, HOST_FILE, CLUSTER_FILE } from './paths';
import type { ModuleFile } from './module';
import type { ConfigProblem } from './problems';
import { BUILTIN_DEFAULTS, type LoadedConfig, type ResolvedDisk, type ResolvedModule } from './resolved';

// Checks that need more than one file: host names, unique modules and disks, identity files.

interface CrossInput {
  dir: string;
  modulesDir: string;
  cluster: ClusterFile;
  host: HostLocalFile;
  modules: Array<{ file: string; module: ModuleFile }>;
  problems: ConfigProblem[];
}

/** Last path component, whichever separator the path uses (config may name Windows paths). */
export function fileName(p: string): string {
  const parts = p.split(/[\\/]/);
  return parts[parts.length - 1] ?? p;
}

/** Paths compare case-insensitively: NTFS does, and a mistake here would mix two modules' data. */
function pathKey(p: string): string {
  return p.replace(/\\/g, '/').toLowerCase();
}

function resolveModule(c: CrossInput, file: string, m: ModuleFile, dataDir: string): ResolvedModule {
  const d = c.cluster.Defaults;
  const onDefaultPrimary = m.DefaultPrimary.toLowerCase() === c.host.HostName.toLowerCase();
  const disks: ResolvedModule['disks'] =
    m.Disks === 'auto'
      ? 'auto'
      : m.Disks.map((disk): ResolvedDisk => {
          const replicaPath = disk.ReplicaPath !== undefined ? fromConfigDir(c.dir, disk.ReplicaPath) : join(dataDir, 'replicas', m.Name, fileName(disk.Path));
          return {
            name: fileName(disk.Path),
            path: disk.Path,
            ...(disk.MaxBytes !== undefined ? { maxBytes: disk.MaxBytes } : {}),
            replicaPath,
            localPath: onDefaultPrimary ? disk.Path : replicaPath,
          };
        });
  return {
    name: m.Name,
    file,
    vmName: m.VmName,
    ...(m.VmId !== undefined ? { vmId: m.VmId } : {}),
    disks,
    defaultPrimary: m.DefaultPrimary,
    replication: {
      interval: m.Replication.Interval ?? d.Replication?.Interval ?? BUILTIN_DEFAULTS.interval,
      compression: m.Replication.Compression ?? d.Replication?.Compression ?? BUILTIN_DEFAULTS.compression,
      blockSize: m.Replication.BlockSize ?? d.Replication?.BlockSize ?? BUILTIN_DEFAULTS.blockSize,
    },
    policies: {
      failback: m.Policies.Failback ?? d.Policies?.Failback ?? BUILTIN_DEFAULTS.failback,
      stopMode: m.Policies.StopMode ?? d.Policies?.StopMode ?? BUILTIN_DEFAULTS.stopMode,
      stopTimeoutSeconds: m.Policies.StopTimeoutSeconds ?? d.Policies?.StopTimeoutSeconds ?? BUILTIN_DEFAULTS.stopTimeoutSeconds,
      startTimeoutSeconds: m.Policies.StartTimeoutSeconds ?? d.Policies?.StartTimeoutSeconds ?? BUILTIN_DEFAULTS.startTimeoutSeconds,
      coldStartAloneSeconds: m.Policies.ColdStartAloneSeconds !== undefined ? m.Policies.ColdStartAloneSeconds : (d.Policies?.ColdStartAloneSeconds ?? null),
      health: resolveHealthPolicy(m.Policies.Health, d.Policies?.Health),
      startPriority: m.Policies.StartPriority ?? d.Policies?.StartPriority ?? 'Medium',
    },
    hooks: { preStart: m.Hooks.PreStart, postStart: m.Hooks.PostStart, preStop: m.Hooks.PreStop, postStop: m.Hooks.PostStop, timeoutSeconds: m.Hooks.TimeoutSeconds },
    ...(m.Weight !== undefined ? { weight: m.Weight } : {}),
    ...(m.Pin !== undefined ? { pin: m.Pin } : {}),
    ...(m.AntiAffinityGroup !== undefined ? { antiAffinityGroup: m.AntiAffinityGroup } : {}),
  };
}

async function checkSecretFile(file: string, field: string, path: string, problems: ConfigProblem[], secret: boolean): Promise<void> {
  try {
    const st = await stat(path);
    if (!st.isFile()) problems.push({ File: file, Path: field, Message: `names ${path}, which is not a file` });
    else if (secret && process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      problems.push({ File: file, Path: field, Message: `names ${path}, which others can read (mode ${(st.mode & 0o777).toString(8)}); it must be owner-only (chmod 600)` });
    }
  } catch {
    problems.push({ File: file, Path: field, Message: `names ${path}, which does not exist (run \`vmmirror init\`)` });
  }
}

interface DiskCopies {
  file: string;
  field: string;
  /** DefaultPrimary, lower-case. */
  primary: string;
  path: string;
  replicaPath: string;
}

// Each host holds one copy of every disk: Path on the module's DefaultPrimary, ReplicaPath on the
// other host. Same-kind duplicates are reported above; here a Path of one module that is, on some
// host, the same file as another module's ReplicaPath (two modules would write one file there).
// A disk whose Path equals its own ReplicaPath is fine: the two copies live on different hosts.
function checkCopiesPerHost(hosts: string[], copies: DiskCopies[], problems: ConfigProblem[]): void {
  for (const host of hosts) {
    const seen = new Map<string, { owner: string; what: 'Path' | 'ReplicaPath' }>();
    for (const c of copies) {
      const what = c.primary === host.toLowerCase() ? 'Path' : 'ReplicaPath';
      const key = pathKey(what === 'Path' ? c.path : c.replicaPath);
      const prev = seen.get(key);
      if (prev === undefined) seen.set(key, { owner: `${c.file} ${c.field}`, what });
      else if (prev.what !== what) problems.push({ File: c.file, Path: `${c.field}.${what}`, Message: `is, on host ${host}, the same file as the ${prev.what} of ${prev.owner}` });
    }
  }
}

/** Cross-file checks; returns the resolved config (meaningful only when no problem was added). */
export async function crossCheck(c: CrossInput): Promise<LoadedConfig | undefined> {
  const { cluster, host, problems } = c;
  const hostNames = new Map(cluster.Hosts.map((h) => [h.Name.toLowerCase(), h]));
  const self = hostNames.get(host.HostName.toLowerCase());
  if (self === undefined) problems.push({ File: HOST_FILE, Path: 'HostName', Message: `names "${host.HostName}", which is not one of the hosts in ${CLUSTER_FILE} (${cluster.Hosts.map((h) => h.Name).join(', ')})` });
  if (cluster.Hosts[0].CertificateFingerprint === cluster.Hosts[1].CertificateFingerprint) {
    problems.push({ File: CLUSTER_FILE, Path: 'Hosts[1].CertificateFingerprint', Message: 'is the same as Hosts[0]: each host has its own certificate (paste the peer\'s fingerprint)' });
  }
  const [h0, h1] = cluster.Hosts;
  if (h0.Address.toLowerCase() === h1.Address.toLowerCase() && h0.Port === h1.Port) {
    problems.push({ File: CLUSTER_FILE, Path: 'Hosts[1].Port', Message: `is the same address and port as Hosts[0] (${h0.Address}:${h0.Port}); each host listens on its own` });
  }
  if (cluster.Witness?.Kind === 'Agent' && cluster.Hosts.some((h) => h.CertificateFingerprint === (cluster.Witness as { CertificateFingerprint: string }).CertificateFingerprint)) {
    problems.push({ File: CLUSTER_FILE, Path: 'Witness.CertificateFingerprint', Message: "is a host's fingerprint; the witness has its own certificate" });
  }
  const keyPath = fromConfigDir(c.dir, host.KeyPath);
  const certificatePath = fromConfigDir(c.dir, host.CertificatePath);
  const tokenPath = fromConfigDir(c.dir, host.TokenPath);
  await checkSecretFile(HOST_FILE, 'KeyPath', keyPath, problems, true);
  await checkSecretFile(HOST_FILE, 'CertificatePath', certificatePath, problems, false);
  await checkSecretFile(HOST_FILE, 'TokenPath', tokenPath, problems, true);

  const dataDir = fromConfigDir(c.dir, cluster.DataDirectory);
  const names = new Map<string, string>();
  const sources = new Map<string, string>();
  const replicas = new Map<string, string>();
  const copies: DiskCopies[] = [];
  const modules: ResolvedModule[] = [];
  for (const { file, module: m } of c.modules) {
    const expected = `${m.Name.toLowerCase()}.json`;
    if (fileName(file).toLowerCase() !== expected) problems.push({ File: file, Path: 'Name', Message: `is "${m.Name}" but the file is ${fileName(file)}; name the file ${m.Name}.json` });
    const other = names.get(m.Name.toLowerCase());
    if (other !== undefined) problems.push({ File: file, Path: 'Name', Message: `duplicates the module name in ${other}` });
    else names.set(m.Name.toLowerCase(), file);
    if (!hostNames.has(m.DefaultPrimary.toLowerCase())) problems.push({ File: file, Path: 'DefaultPrimary', Message: `names "${m.DefaultPrimary}", which is not a host in ${CLUSTER_FILE}` });
    if (m.Pin !== undefined && !hostNames.has(m.Pin.toLowerCase())) problems.push({ File: file, Path: 'Pin', Message: `names "${m.Pin}", which is not a host in ${CLUSTER_FILE}` });
    const r = resolveModule(c, file, m, dataDir);
    if (r.disks !== 'auto') {
      const inModule = new Set<string>();
      r.disks.forEach((disk, i) => {
        const field = `Disks[${i}]`;
        if (inModule.has(disk.name.toLowerCase())) problems.push({ File: file, Path: `${field}.Path`, Message: `has the file name ${disk.name} twice in this module; disks are named by file name` });
        inModule.add(disk.name.toLowerCase());
        for (const [map, p, what] of [[sources, disk.path, 'Path'], [replicas, disk.replicaPath, 'ReplicaPath']] as const) {
          const prev = map.get(pathKey(p));
          if (prev !== undefined) problems.push({ File: file, Path: `${field}.${what}`, Message: `duplicates a disk path already used by ${prev}` });
          else map.set(pathKey(p), `${file} ${field}`);
        }
        copies.push({ file, field, primary: m.DefaultPrimary.toLowerCase(), path: disk.path, replicaPath: disk.replicaPath });
      });
    }
    modules.push(r);
  }
  checkCopiesPerHost(cluster.Hosts.map((h) => h.Name), copies, problems);
  if (self === undefined) return undefined;
  const peer = cluster.Hosts.find((h) => h !== self) ?? self;
  return {
    dir: c.dir,
    clusterName: cluster.ClusterName,
    self,
    peer,
    hosts: cluster.Hosts,
    dataDir,
    modulesDir: c.modulesDir,
    keyPath,
    certificatePath,
    tokenPath,
    ...(cluster.Witness !== undefined ? { witness: cluster.Witness } : {}),
    agent: cluster.Agent,
    hypervisor: cluster.Hypervisor,
    modules,
  };
}
