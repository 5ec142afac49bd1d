import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { Name } from '../config/common';
import { VmmirrorError, fromNodeError } from '../errors';
import { writeFileDurable } from '../replication/util/durable-file';

// The maintenance record (docs/cluster.md "Maintenance"): which hosts of the pair are in
// maintenance, since when, and whether this host's own drain was still under way. Each host keeps
// it in its cluster records folder, for both hosts: a host is the authority on its own flag (set
// by `vmmirror drain` / `vmmirror resume`), and records the peer's as its heartbeats say it. It
// survives an agent restart; a damaged one stops the agent (a guessed "not in maintenance" would
// let VMs move onto a host being patched).

export const MaintenanceHost = z
  .object({
    Name,
    Since: z.string().datetime(),
    /** This host's drain had not finished when the record was written (a restarted agent resumes it). */
    Draining: z.boolean(),
  })
  .strict();
export type MaintenanceHost = z.infer<typeof MaintenanceHost>;

export const MaintenanceRecord = z.object({ Version: z.literal(1), Hosts: z.array(MaintenanceHost).max(2) }).strict();
export type MaintenanceRecord = z.infer<typeof MaintenanceRecord>;

const FILE = 'maintenance.json';
const MAX_BYTES = 16 * 1024;

export async function writeMaintenanceRecord(dir: string, record: MaintenanceRecord): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileDurable(join(dir, FILE), `${JSON.stringify(MaintenanceRecord.parse(record))}\n`);
}

/** The record, or an empty one when this host never wrote it. */
export async function readMaintenanceRecord(dir: string): Promise<MaintenanceRecord> {
  const path = join(dir, FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { Version: 1, Hosts: [] };
    throw fromNodeError(err, path);
  }
  const damaged = (why: string): never => {
    throw new VmmirrorError('CLUSTER_STATE_INVALID', `${path}: ${why}; the agent will not guess whether a host is in maintenance. Fix or remove the file (docs/cluster.md "Maintenance"), then run vmmirror drain or resume`);
  };
  if (Buffer.byteLength(text) > MAX_BYTES) damaged('larger than any record vmmirror writes');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return damaged('not valid JSON');
  }
  const r = MaintenanceRecord.safeParse(json);
  if (!r.success) return damaged(`invalid: ${r.error.issues[0]?.message ?? 'schema mismatch'}`);
  return r.data;
}
