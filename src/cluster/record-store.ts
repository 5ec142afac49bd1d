import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { VmmirrorError, fromNodeError } from '../errors';
import { Name } from '../config/common';
import { writeFileDurable } from '../replication/util/durable-file';
import { ModuleRecord } from './record';

// The one durable record per module and host (DESIGN C2), outside the pure layer: the effect
// runner's `persist` writes it (atomically: temp, fsync, rename, folder fsync), a starting agent
// reads it. A damaged record is an error, never a default: guessing an epoch or an owner could
// start a stale copy.

const MAX_RECORD_BYTES = 64 * 1024;

function recordPath(dir: string, module: string): string {
  // The name comes from this host's own module config; checked again, since it becomes a path.
  if (!Name.safeParse(module).success) throw new VmmirrorError('CLUSTER_STATE_INVALID', `module name ${JSON.stringify(module)} cannot name a record file`);
  return join(dir, `${module}.json`);
}

export async function writeModuleRecord(dir: string, record: ModuleRecord): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileDurable(recordPath(dir, record.Module), `${JSON.stringify(ModuleRecord.parse(record))}\n`);
}

/** The record of `module`, or null when this host never wrote one. */
export async function readModuleRecord(dir: string, module: string): Promise<ModuleRecord | null> {
  const path = recordPath(dir, module);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fromNodeError(err, path);
  }
  const damaged = (why: string): never => {
    throw new VmmirrorError('CLUSTER_STATE_INVALID', `${path}: ${why}; the agent will not guess this module's epoch or owner. Check which host runs the VM before removing the file (docs/cluster.md)`);
  };
  if (Buffer.byteLength(text) > MAX_RECORD_BYTES) damaged('larger than any record vmmirror writes');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return damaged('not valid JSON');
  }
  const r = ModuleRecord.safeParse(json);
  if (!r.success) return damaged(`invalid: ${r.error.issues[0]?.message ?? 'schema mismatch'}`);
  if (r.data.Module !== module) damaged(`it is the record of module '${r.data.Module}'`);
  return r.data;
}
