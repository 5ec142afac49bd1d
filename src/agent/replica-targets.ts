import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import type { LoadedConfig, ResolvedModule } from '../config';
import { writeFileAtomic } from '../config/write';
import { ReplicationError } from '../errors';
import type { ReplicaTarget } from '../replication';
import type { CycleBegin } from './messages';

// Which files the secondary writes for a module, and the record of the targets last used
// (state/<module>/targets.json) so a restart re-opens and recovers the replica with the same bounds.

const SAFE_FILE = /^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,200}\.(vhdx|avhdx|vhd|img|raw|bin)$/i;
const VHDX_MAX_BYTES = 64 * 2 ** 40;

type Announced = z.output<typeof CycleBegin.body>['disks'];

// The replica files this host writes for a module: configured ones, or for Disks "auto" plain file
// names inside this host's replica folder. Sizes: the configured MaxBytes, else the announced size.
export function replicaTargets(config: LoadedConfig, m: ResolvedModule, announced: Announced): ReplicaTarget[] {
  if (m.disks === 'auto') {
    return announced.map((d) => {
      if (!SAFE_FILE.test(d.name)) throw new ReplicationError('STREAM_WRONG_TARGET', `disk name ${JSON.stringify(d.name)} is not a plain disk file name`);
      return { name: d.name, path: join(config.dataDir, 'replicas', m.name, d.name), maxBytes: Math.min(d.sizeBytes, VHDX_MAX_BYTES) };
    });
  }
  const byName = new Map(announced.map((d) => [d.name, d]));
  const configured = m.disks;
  if (announced.length !== configured.length || configured.some((d) => !byName.has(d.name))) {
    throw new ReplicationError('STREAM_WRONG_TARGET', `module ${m.name}: the primary announced disks [${announced.map((d) => d.name).join(', ')}], this host's module file names [${configured.map((d) => d.name).join(', ')}]`);
  }
  return configured.map((d) => ({ name: d.name, path: d.replicaPath, maxBytes: d.maxBytes ?? Math.min(byName.get(d.name)!.sizeBytes, VHDX_MAX_BYTES) }));
}

// The targets last used, so a restart re-opens (and recovers) the replica with the same bounds.
function targetsPath(config: LoadedConfig, module: string): string {
  return join(config.dataDir, 'state', module, 'targets.json');
}

// Null when the module never received a cycle (no file). Anything else that stops the replica from
// opening is an error with a code: the caller logs it and shows it in status.
export async function readTargets(config: LoadedConfig, module: string): Promise<ReplicaTarget[] | null> {
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
  if (!Array.isArray(raw) || raw.some((t) => typeof t?.name !== 'string' || typeof t?.maxBytes !== 'number')) {
    throw new ReplicationError('REPLICA_INVALID', `${path} is not a list of replica targets; the next cycle rewrites it`);
  }
  const m = config.modules.find((x) => x.name === module)!;
  // Re-derive from config so a hand-edited file cannot point elsewhere.
  return replicaTargets(config, m, (raw as ReplicaTarget[]).map((t) => ({ name: t.name, sizeBytes: t.maxBytes })));
}

export async function writeTargets(config: LoadedConfig, module: string, targets: ReplicaTarget[]): Promise<void> {
  await mkdir(join(config.dataDir, 'state', module), { recursive: true, mode: 0o700 });
  await writeFileAtomic(targetsPath(config, module), `${JSON.stringify(targets)}\n`);
}
