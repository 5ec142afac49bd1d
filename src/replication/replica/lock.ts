import { randomBytes } from 'node:crypto';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
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

/** The pid a lock file names; NaN when it is gone (or names nothing). */
async function ownerOf(path: string): Promise<number> {
  const text = (await readFile(path, 'utf8').catch(() => '')).trim();
  return text === '' ? Number.NaN : Number(text);
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
    for (let attempt = 0; attempt < 20; attempt++) {
      if (await linked(tmp, path)) {
        return async () => {
          await unlink(path).catch(() => undefined);
          heldHere.delete(key);
        };
      }
      const owner = await ownerOf(path);
      if (Number.isNaN(owner)) continue; // released meanwhile: try again
      if (isLive(owner)) throw locked(path, owner);
      await removeStale(path, tmp, owner);
    }
    throw new ReplicationError('REPLICA_LOCKED', `could not take the replica lock ${path}`);
  } catch (err) {
    heldHere.delete(key);
    throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

async function linked(from: string, to: string): Promise<boolean> {
  try {
    await link(from, to);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromNodeError(err, to);
    return false;
  }
}

// Removes a lock left by dead process `dead`. Removers take turns through a second lock, so a lock
// is only ever removed by the one remover that saw it still name `dead`: nothing can replace it in
// between (its owner is dead, takers need it gone, other removers wait), and no lock is moved back.
async function removeStale(path: string, tmp: string, dead: number): Promise<void> {
  const turn = `${path}.takeover`;
  if (!(await linked(tmp, turn))) {
    const remover = await ownerOf(turn);
    // A remover that died in its few lines leaves its turn behind; clear it for the next attempt.
    if (!Number.isNaN(remover) && !isLive(remover) && remover !== process.pid) await unlink(turn).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 1));
    return;
  }
  try {
    if ((await ownerOf(path)) === dead) await unlink(path).catch(() => undefined);
  } finally {
    await unlink(turn).catch(() => undefined);
  }
}
