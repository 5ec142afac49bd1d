import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { ReplicationError, fromNodeError } from '../../errors';

/** Reads a small JSON file vmmirror owns: null when absent, REPLICA_INVALID (naming `what`) when damaged. */
export async function readOwnJson<T extends z.ZodType>(path: string, schema: T, what: string): Promise<z.output<T> | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fromNodeError(err, path);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ReplicationError('REPLICA_INVALID', `${path}: ${what} is not valid JSON`);
  }
  const r = schema.safeParse(json);
  if (!r.success) throw new ReplicationError('REPLICA_INVALID', `${path}: ${what} is invalid: ${r.error.issues[0]?.message ?? 'schema mismatch'}`);
  return r.data;
}
