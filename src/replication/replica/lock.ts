import { open, readFile, unlink } from 'node:fs/promises';
import { ReplicationError, fromNodeError } from '../../errors';

// One writer per replica folder: an exclusive lock file holding the owner's pid. A lock whose
// owner is dead (crashed or killed) is taken over, since recovery then runs on open anyway.

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock at `path`; REPLICA_LOCKED when a live process holds it. Returns the release function. */
export async function acquireLock(path: string): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o600);
      await fh.writeFile(String(process.pid));
      await fh.close();
      return async () => {
        await unlink(path).catch(() => undefined);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromNodeError(err, path);
    }
    const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
      throw new ReplicationError('REPLICA_LOCKED', `replica is in use by process ${owner} (${path})`, { details: { pid: owner } });
    }
    await unlink(path).catch(() => undefined);
  }
  throw new ReplicationError('REPLICA_LOCKED', `could not take the replica lock ${path}`);
}
