import type { z } from 'zod';
import { ReplicationError, fromNodeError } from '../../errors';
import { openExisting } from './safe-open';

// What the operator can do about a damaged file of vmmirror's own (docs/replication.md, recovery).
export const RESET_HINT = 'run `vmmirror replica reset <replica folder>` to discard vmmirror\'s state and rehash the replica files';

// state.json and the commit record hold a few hundred bytes per replica file.
const MAX_OWN_JSON_BYTES = 16 * 1024 * 1024;

/** Reads a small JSON file vmmirror owns: null when absent, REPLICA_INVALID (naming `what`) when damaged. */
export async function readOwnJson<T extends z.ZodType>(path: string, schema: T, what: string): Promise<z.output<T> | null> {
  let text: string;
  try {
    // No-follow, one link: a link at this name would make vmmirror act on a file it does not own.
    const fh = await openExisting(path, 'r');
    try {
      // Read whole, so bounded first: a file grown by hand (or sparse) to gigabytes would take
      // that much memory, or fail with an uncoded "Invalid string length".
      const { size } = await fh.stat();
      if (size > MAX_OWN_JSON_BYTES) {
        throw new ReplicationError('REPLICA_INVALID', `${path}: ${what} is ${size} bytes, more than any vmmirror writes (${MAX_OWN_JSON_BYTES}); ${RESET_HINT}`);
      }
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as { code?: string }).code === 'FILE_NOT_FOUND') return null;
    throw fromNodeError(err, path);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ReplicationError('REPLICA_INVALID', `${path}: ${what} is not valid JSON (${text.length === 0 ? 'empty' : `${text.length} bytes`}); ${RESET_HINT}`);
  }
  const r = schema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue?.path.length ? ` at ${issue.path.join('.')}` : '';
    throw new ReplicationError('REPLICA_INVALID', `${path}: ${what} is invalid${where}: ${issue?.message ?? 'schema mismatch'}; ${RESET_HINT}`);
  }
  return r.data;
}
