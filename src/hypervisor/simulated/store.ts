import { randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { z } from 'zod';
import { ConfigError, HypervisorError } from '../../errors';
import { SimHostConfig, SimVmRecord } from './schemas';

// Where things live in a simulated host's state folder, and how its JSON files are read and
// written. File names come only from validated VM ids, never from VM names.

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** True for a lower-case canonical GUID (the only thing allowed to name a file here). */
export function isVmId(id: string): boolean {
  return GUID.test(id);
}

/** Paths of one host's state folder. */
export function hostPaths(stateDir: string): { hostFile: string; epochFile: string; vmsDir: string; disksDir: string } {
  return { hostFile: join(stateDir, 'host.json'), epochFile: join(stateDir, 'host-epoch.json'), vmsDir: join(stateDir, 'vms'), disksDir: join(stateDir, 'disks') };
}

/** The host's power-on epoch: a crash starts a new one, and a VM process of an older epoch stops at once. */
export function readHostEpoch(stateDir: string): string {
  try {
    const v = JSON.parse(readFileSync(hostPaths(stateDir).epochFile, 'utf8')) as { epoch?: unknown };
    return typeof v.epoch === 'string' ? v.epoch : '';
  } catch {
    return '';
  }
}

/** Paths of one VM's folder; throws VM_NOT_FOUND for anything that is not a GUID. */
export function vmPaths(stateDir: string, id: string): {
  dir: string; record: string; runtime: string; freeze: string; faults: string; requests: string; responses: string; changeLog: (disk: number) => string;
} {
  if (!isVmId(id)) throw new HypervisorError('VM_NOT_FOUND', `not a VM id: ${JSON.stringify(id)}`, { details: { vmId: id } });
  const dir = join(hostPaths(stateDir).vmsDir, id);
  return {
    dir,
    record: join(dir, 'vm.json'),
    runtime: join(dir, 'runtime.json'),
    freeze: join(dir, 'freeze.json'),
    faults: join(dir, 'faults.json'),
    requests: join(dir, 'requests'),
    responses: join(dir, 'responses'),
    changeLog: (disk: number) => join(dir, `disk-${disk}.changes.jsonl`),
  };
}

/** Writes JSON so a reader sees the old file or the new one, never a torn one (tmp + fsync + rename). */
export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.${randomUUID()}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, JSON.stringify(value, null, 2) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  // The rename itself is durable only once the folder is synced (not possible on Windows: skipped).
  try {
    const dfd = openSync(dirname(path), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // A folder that cannot be opened for sync: the rename still happened.
  }
}

/** Reads and validates a JSON file; null when it does not exist. */
export function readJson<S extends z.ZodType>(path: string, schema: S): z.infer<S> | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new HypervisorError('HYPERVISOR_ERROR', `simulated host: ${path} is not JSON`, { cause: err, details: { path } });
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new HypervisorError('HYPERVISOR_ERROR', `simulated host: ${path} is invalid: ${parsed.error.message}`, { details: { path } });
  }
  return parsed.data;
}

/** The host's configuration; CONFIG_NOT_FOUND when the folder is not a simulated host. */
export function readHostConfig(stateDir: string): SimHostConfig {
  const host = readJson(hostPaths(stateDir).hostFile, SimHostConfig);
  if (host === null) throw new ConfigError('CONFIG_NOT_FOUND', `${stateDir} is not a simulated host (no host.json); create it with createSimulatedHost`, { details: { stateDir } });
  return host;
}

/** One VM's record, or null when this host has no VM with that id. */
export function readVmRecord(stateDir: string, id: string): SimVmRecord | null {
  if (!isVmId(id)) return null;
  return readJson(vmPaths(stateDir, id).record, SimVmRecord);
}

/** Writes a VM's record atomically (creating its folder). */
export async function writeVmRecord(stateDir: string, record: SimVmRecord): Promise<void> {
  const p = vmPaths(stateDir, record.id);
  await mkdir(p.dir, { recursive: true });
  await mkdir(p.requests, { recursive: true });
  await mkdir(p.responses, { recursive: true });
  writeJsonAtomic(p.record, SimVmRecord.parse(record));
}

/** Ids of every VM folder on the host (folders whose name is not a GUID are ignored). */
export async function listVmIds(stateDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(hostPaths(stateDir).vmsDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names.filter(isVmId).sort();
}
