import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import { fileName, type LoadedConfig, type ResolvedModule } from '../config';
import { writeFileAtomic } from '../config/write';
import { ConfigError, ReplicationError, hasCode } from '../errors';
import type { Hypervisor } from '../hypervisor/types';
import type { ReplicaTarget } from '../replication';
import { resolveVm } from './cycle-sources';
import type { CycleBegin } from './messages';

// Which files this host writes for a module it receives, and how large each may grow. Names,
// paths and bounds come from this host's own configuration and its own registered VM only, never
// from the wire (DESIGN I4): the sender's announcement is only checked against them. The targets
// last used are recorded (state/<module>/targets.json) so a restart re-opens and recovers the
// replica; what is read back is re-derived from config, so a hand-edited file cannot move a path.

const SAFE_FILE = /^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,200}\.(vhdx|avhdx|vhd|img|raw|bin)$/i;
const MiB = 2 ** 20;
const VHDX_MAX_VIRTUAL = 64 * 2 ** 40;

type Announced = z.output<typeof CycleBegin.body>['disks'];

/** A disk of this host's own VM of a module (the replica VM, or the VM itself after a failover). */
export interface LocalVmDisk {
  basePath: string;
  /** Virtual size in bytes. */
  sizeBytes: number;
}

/** This host's VM disks of a module; null when the module's VM is not registered here. */
export type LocalVmDisks = (module: string) => Promise<LocalVmDisk[] | null>;

/**
 * The largest a VHDX file of `virtualBytes` can be, from the VHDX format's limits (MS-VHDX), so a
 * bound holds whatever block size or layout the file was made with:
 * - payload: the virtual size rounded up to the largest block size (256 MiB);
 * - sector bitmap blocks (differencing disks): 1 MiB per chunk of 2^23 sectors (4 GiB at 512-byte
 *   sectors, the smallest chunk);
 * - BAT: 8 bytes per payload block at the smallest block size (1 MiB) plus one per bitmap block,
 *   rounded up to 1 MiB;
 * - header section (1 MiB), log, metadata and region alignment: 64 MiB (Hyper-V and qemu make 1 MiB
 *   each; the format allows more, rarely used).
 * A raw image is its virtual size, under this bound. For 127 GiB the overhead is about 354 MiB.
 */
export function vhdxFileBound(virtualBytes: number): number {
  const v = Math.min(Math.max(virtualBytes, 0), VHDX_MAX_VIRTUAL);
  const payload = Math.ceil(v / (256 * MiB)) * 256 * MiB;
  const bitmaps = Math.ceil(v / (4 * 2 ** 30)) * MiB;
  const batEntries = Math.ceil(v / MiB) + Math.ceil(v / (4 * 2 ** 30)) + 2;
  const bat = Math.ceil((batEntries * 8) / MiB) * MiB;
  return payload + bitmaps + bat + 64 * MiB;
}

function pathKey(p: string): string {
  return p.replace(/\\/g, '/').toLowerCase();
}

/**
 * The replica files this host writes for `m`, from its config and its own VM (`vmDisks`, null when
 * not registered here). Explicit disks: the configured names at their localPath, bounded by
 * MaxBytes, else by the VM's disk at that path. "auto": the VM's disks, by file name, at their own
 * paths. Anything that leaves a name or a bound unknown is CONFIG_INVALID naming the fix.
 */
export function configuredTargets(m: ResolvedModule, vmDisks: LocalVmDisk[] | null): ReplicaTarget[] {
  if (m.disks === 'auto') {
    if (vmDisks === null) {
      throw new ConfigError('CONFIG_INVALID', `module ${m.name}: Disks is "auto" but its VM is not registered on this host, so nothing here names its disks or their sizes; list the disks in the module file (modules/${m.name}.json), or register the replica VM`);
    }
    const targets = vmDisks.map((d) => {
      const name = fileName(d.basePath);
      if (!SAFE_FILE.test(name)) throw new ConfigError('CONFIG_INVALID', `module ${m.name}: the VM's disk ${d.basePath} is not a plain disk file name; list the disks in modules/${m.name}.json`);
      return { name, path: d.basePath, maxBytes: vhdxFileBound(d.sizeBytes) };
    });
    if (new Set(targets.map((t) => t.name.toLowerCase())).size !== targets.length) {
      throw new ConfigError('CONFIG_INVALID', `module ${m.name}: two of the VM's disks have the same file name (${targets.map((t) => t.name).join(', ')}); list the disks in modules/${m.name}.json`);
    }
    return targets;
  }
  return m.disks.map((d) => {
    if (d.maxBytes !== undefined) return { name: d.name, path: d.localPath, maxBytes: d.maxBytes };
    const attached = vmDisks?.find((v) => pathKey(v.basePath) === pathKey(d.localPath));
    if (attached !== undefined) return { name: d.name, path: d.localPath, maxBytes: vhdxFileBound(attached.sizeBytes) };
    const why = vmDisks === null ? 'its VM is not registered on this host' : `its VM here has no disk at ${d.localPath} (it has ${vmDisks.map((v) => v.basePath).join(', ') || 'none'})`;
    throw new ConfigError('CONFIG_INVALID', `module ${m.name}: no size bound for disk ${d.name} (${why}); set MaxBytes for disk ${d.name} in modules/${m.name}.json, or register the replica VM`);
  });
}

/**
 * The targets for a cycle.begin: this host's configured targets, checked against what the sender
 * announced: the same names (STREAM_WRONG_TARGET otherwise) and no size above its bound
 * (STREAM_OUT_OF_RANGE), refused before anything is written.
 */
export function replicaTargets(m: ResolvedModule, vmDisks: LocalVmDisk[] | null, announced: Announced): ReplicaTarget[] {
  const targets = configuredTargets(m, vmDisks);
  const byName = new Map(announced.map((d) => [d.name, d]));
  if (announced.length !== targets.length || byName.size !== announced.length || targets.some((t) => !byName.has(t.name))) {
    throw new ReplicationError('STREAM_WRONG_TARGET', `module ${m.name}: the sender announced disks [${announced.map((d) => d.name).join(', ')}], this host's module config names [${targets.map((t) => t.name).join(', ')}]`);
  }
  for (const t of targets) {
    const size = byName.get(t.name)!.sizeBytes;
    if (size > t.maxBytes) {
      throw new ReplicationError('STREAM_OUT_OF_RANGE', `module ${m.name}: the sender announced ${t.name} at ${size} bytes, above this host's bound of ${t.maxBytes}; raise MaxBytes for disk ${t.name} in modules/${m.name}.json (or grow the replica VM's disk) if the disk really grew`);
    }
  }
  return targets;
}

/** The lookup ReplicaSide needs, over a hypervisor: the module's VM here (resolveVm), null when it has none. */
export function localVmDisksVia(hypervisor: Hypervisor, config: LoadedConfig): LocalVmDisks {
  return async (module) => {
    const m = config.modules.find((x) => x.name === module);
    if (m === undefined) return null;
    let id: string;
    try {
      id = await resolveVm(hypervisor, m);
    } catch (err) {
      if (hasCode(err, 'VM_NOT_FOUND')) return null;
      throw err;
    }
    const vm = await hypervisor.getVm(id);
    if (vm === null) return null;
    // A drive with a problem (pass-through, missing file) has no usable size: it bounds nothing.
    return vm.disks.filter((d) => d.problem === undefined && d.basePath !== '').map((d) => ({ basePath: d.basePath, sizeBytes: d.sizeBytes }));
  };
}

// The targets last used, so a restart re-opens (and recovers) the replica with the same bounds.
function targetsPath(config: LoadedConfig, module: string): string {
  return join(config.dataDir, 'state', module, 'targets.json');
}

/**
 * The targets to re-open a replica with (null when the module never received a cycle here).
 * Names and paths are re-derived from config and this host's VM; a recorded name config no longer
 * names is STREAM_WRONG_TARGET. The bound is config's when it can be derived, else the recorded
 * one: a bound only limits what a later stream may write, and every begin derives it afresh, so
 * re-opening (to finish a committed journal) never waits for a VM to be registered.
 */
export async function readTargets(config: LoadedConfig, module: string, vmDisks: LocalVmDisks): Promise<ReplicaTarget[] | null> {
  const path = targetsPath(config, module);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ReplicationError('IO_ERROR', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ReplicationError('REPLICA_INVALID', `${path} is not valid JSON (${(err as Error).message}); the next cycle rewrites it`, { cause: err });
  }
  if (!Array.isArray(raw) || raw.some((t) => typeof t?.name !== 'string' || typeof t?.maxBytes !== 'number' || !Number.isSafeInteger(t.maxBytes) || t.maxBytes < 0)) {
    throw new ReplicationError('REPLICA_INVALID', `${path} is not a list of replica targets; the next cycle rewrites it`);
  }
  const recorded = raw as Array<{ name: string; maxBytes: number }>;
  const m = config.modules.find((x) => x.name === module)!;
  const disks = await vmDisks(module);
  let derived: ReplicaTarget[];
  if (m.disks === 'auto') {
    derived = configuredTargets(m, disks);
  } else {
    derived = m.disks.map((d) => {
      const vm = disks?.find((v) => pathKey(v.basePath) === pathKey(d.localPath));
      const bound = d.maxBytes ?? (vm !== undefined ? vhdxFileBound(vm.sizeBytes) : recorded.find((r) => r.name === d.name)?.maxBytes);
      return { name: d.name, path: d.localPath, maxBytes: bound ?? 0 };
    });
  }
  const names = new Set(derived.map((t) => t.name));
  const foreign = recorded.filter((r) => !names.has(r.name));
  if (foreign.length > 0 || recorded.length !== derived.length) {
    throw new ReplicationError('STREAM_WRONG_TARGET', `${path} names [${recorded.map((r) => r.name).join(', ')}], module ${module}'s config here names [${derived.map((t) => t.name).join(', ')}]; the next cycle.begin rewrites it`);
  }
  return derived;
}

export async function writeTargets(config: LoadedConfig, module: string, targets: ReplicaTarget[]): Promise<void> {
  await mkdir(join(config.dataDir, 'state', module), { recursive: true, mode: 0o700 });
  await writeFileAtomic(targetsPath(config, module), `${JSON.stringify(targets)}\n`);
}
