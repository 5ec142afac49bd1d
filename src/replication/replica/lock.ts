import { randomBytes } from 'node:crypto';
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ReplicationError, fromNodeError } from '../../errors';

// One writer per replica folder: an exclusive lock file holding the owner's pid. A lock whose
// owner is dead (crashed or killed) is taken over, since recovery then runs on open anyway.
// The lock file appears with its pid already in it (written to a temp file, then hard-linked into
// place), so no taker ever sees an empty lock and mistakes it for a stale one. Locks this process
// holds are remembered here: a lock file naming our own pid is ours only if it is in this set
// (otherwise an earlier process that had the same pid left it behind).

const heldHere = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function ownerOf(path: string): Promise<number> {
  return Number((await readFile(path, 'utf8').catch(() => '')).trim());
}

function isLive(owner: number): boolean {
  return Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner);
}

function locked(path: string, owner: number): ReplicationError {
  return new ReplicationError('REPLICA_LOCKED', `replica is in use by process ${owner} (${path})`, { details: { pid: owner } });
}

/** Takes the lock at `path`; REPLICA_LOCKED when a live process holds it. Returns the release function. */
export async function acquireLock(path: string): Promise<() => Promise<void>> {
  const key = resolve(path);
  if (heldHere.has(key)) throw locked(path, process.pid);
  heldHere.add(key);
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, String(process.pid), { mode: 0o600 }).catch((e: unknown) => {
      throw fromNodeError(e, tmp);
    });
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await link(tmp, path);
        return async () => {
          await unlink(path).catch(() => undefined);
          heldHere.delete(key);
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromNodeError(err, path);
      }
      const owner = await ownerOf(path);
      if (isLive(owner)) throw locked(path, owner);
      // Move the stale lock aside and look again: another taker may have replaced it meanwhile,
      // and a live owner's lock must go back rather than be deleted.
      const aside = `${tmp}.stale`;
      if (!(await rename(path, aside).then(() => true, () => false))) continue;
      const moved = await ownerOf(aside);
      if (isLive(moved)) {
        await link(aside, path).catch(() => undefined);
        await unlink(aside).catch(() => undefined);
        throw locked(path, moved);
      }
      await unlink(aside).catch(() => undefined);
    }
    throw new ReplicationError('REPLICA_LOCKED', `could not take the replica lock ${path}`);
  } catch (err) {
    heldHere.delete(key);
    throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}
