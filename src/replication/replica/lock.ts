import { link, lstat, unlink, type FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ReplicationError, fromNodeError } from '../../errors';
import { createFresh, openExisting, unsafePath } from '../util/safe-open';
import { writeAll } from '../util/write-all';
import { processesWithOpen } from './open-files';

// One writer per replica folder: an exclusive lock file holding the owner's pid. A lock whose
// owner is dead (crashed or killed) is taken over, since recovery then runs on open anyway.
// The lock file appears with its pid already in it and fsynced (written to a temp file, synced,
// then hard-linked into place), so no taker ever sees an empty lock and mistakes it for a stale
// one, and a power loss cannot leave an empty one behind. Its holder keeps it open while it holds
// it: a lock that names no pid (damaged by hand or by a file system that lost its data) is taken
// over only when no process has it open. Locks this process holds are remembered here: a lock
// file naming our own pid is ours only if it is in this set (otherwise an earlier process that
// had the same pid left it behind).

const heldHere = new Set<string>();
const ATTEMPTS = 20;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A lock (or takeover turn) file as seen by a taker: its text and which file it is. */
interface SeenLock {
  text: string;
  dev: number;
  ino: number;
}

/**
 * Reads a lock (or takeover turn) file without following a link at its name; null when it is gone.
 * `base` is the lock's path: a holder's temp (`<base>.<pid>.tmp`) is the one other name the file
 * may have, for an instant; any other hard link is refused (REPLICA_UNSAFE_PATH).
 */
async function readLock(path: string, base: string): Promise<SeenLock | null> {
  let fh: FileHandle;
  try {
    fh = await openExisting(path, 'r', { allowLinks: true });
  } catch (err) {
    if ((err as { code?: string }).code === 'FILE_NOT_FOUND') return null;
    throw err;
  }
  try {
    const st = await fh.stat();
    const buf = Buffer.alloc(32);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const text = buf.subarray(0, bytesRead).toString('utf8');
    if (st.nlink > 1) await checkOnlyTempLink(fh, path, base, text, st.dev, st.ino);
    return { text, dev: st.dev, ino: st.ino };
  } catch (err) {
    throw fromNodeError(err, path);
  } finally {
    await fh.close().catch(() => undefined);
  }
}

// A second name is legitimate only while its holder links its temp into place: the temp named by
// the file's own pid has the same inode, or it is already gone and the count dropped (the fstat
// is of the file we opened, which may since have lost every name).
async function checkOnlyTempLink(fh: FileHandle, path: string, base: string, text: string, dev: number, ino: number): Promise<void> {
  const pid = pidOf(text);
  if (pid !== null) {
    const tmp = await lstat(`${base}.${pid}.tmp`).catch(() => null);
    if (tmp !== null && tmp.dev === dev && tmp.ino === ino && tmp.nlink === 2) return;
  }
  // Gone down meanwhile: the temp was removed (1), or the holder released it too (0).
  if ((await fh.stat()).nlink <= 1) return;
  throw unsafePath(path, 'hardlink');
}

/** The pid a lock names; null when its text is not a pid. */
function pidOf(text: string): number | null {
  const t = text.trim();
  if (!/^[0-9]{1,10}$/.test(t)) return null;
  const pid = Number(t);
  return pid > 0 && pid <= 0x7fffffff ? pid : null;
}

function isLive(owner: number): boolean {
  return owner !== process.pid && alive(owner);
}

function locked(path: string, owner: number): ReplicationError {
  return new ReplicationError('REPLICA_LOCKED', `replica is in use by process ${owner} (${path})`, { details: { pid: owner } });
}

type Verdict = { stale: true } | { stale: false; error: ReplicationError; retry: boolean };

// Is the lock (or turn) `seen` at `path` left by a process that is gone?
async function judge(path: string, seen: SeenLock): Promise<Verdict> {
  const owner = pidOf(seen.text);
  if (owner !== null) return isLive(owner) ? { stale: false, error: locked(path, owner), retry: false } : { stale: true };
  // No pid to ask: look for a process that has the file open (holders keep theirs open).
  const holders = await processesWithOpen(seen.dev, seen.ino);
  if (holders === null) {
    const error = new ReplicationError('REPLICA_LOCKED', `${path} names no process and this platform cannot tell who has it open; remove it by hand once no vmmirror process uses this replica`, { details: { path } });
    return { stale: false, error, retry: false };
  }
  // Another taker reading it has it open for an instant: look again before giving up.
  if (holders.length > 0) return { stale: false, error: locked(path, holders[0]), retry: true };
  return { stale: true };
}

/** Takes the lock at `path`; REPLICA_LOCKED when a live process holds it. Returns the release function. */
export async function acquireLock(path: string): Promise<() => Promise<void>> {
  const key = resolve(path);
  if (heldHere.has(key)) throw locked(path, process.pid);
  heldHere.add(key);
  const tmp = `${path}.${process.pid}.tmp`;
  let fh: FileHandle | undefined;
  let created = false;
  try {
    await dropDeadTwinTemp(tmp, path);
    fh = await createFresh(tmp, 0o600);
    created = true;
    await writeAll(fh, Buffer.from(String(process.pid)), 0, tmp);
    // Durable before it is linked into place: after a crash the lock names its pid or is absent.
    await fh.sync().catch((e: unknown) => {
      throw fromNodeError(e, tmp);
    });
    let lastRefusal: ReplicationError | undefined;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      // (The folder is not fsynced after the link: a lock lost in a power cut had no holder left.)
      if (await linked(tmp, path)) {
        const held = fh;
        fh = undefined;
        return async () => {
          // Closed before the name goes, so the name is never left "delete pending" (Windows).
          await held.close().catch(() => undefined);
          await unlink(path).catch(() => undefined);
          heldHere.delete(key);
        };
      }
      const seen = await readLock(path, path);
      if (seen === null) continue; // released meanwhile: try again
      const verdict = await judge(path, seen);
      if (!verdict.stale) {
        if (!verdict.retry) throw verdict.error;
        lastRefusal = verdict.error;
        await new Promise((r) => setTimeout(r, 2));
        continue;
      }
      await removeStale(path, tmp, seen);
    }
    throw lastRefusal ?? new ReplicationError('REPLICA_LOCKED', `could not take the replica lock ${path}`);
  } catch (err) {
    heldHere.delete(key);
    throw err;
  } finally {
    await fh?.close().catch(() => undefined);
    // Only our own temp is removed: a link planted at its name stays for the operator to see.
    if (created) await unlink(tmp).catch(() => undefined);
  }
}

// A process with our pid that died between linking its temp into place and removing it left the
// temp as a second name of its lock (we do not hold it: heldHere said so). That name is ours to
// drop; any other link at the temp's name is refused by createFresh.
async function dropDeadTwinTemp(tmp: string, path: string): Promise<void> {
  const [t, l] = await Promise.all([lstat(tmp).catch(() => null), lstat(path).catch(() => null)]);
  if (t !== null && l !== null && t.isFile() && l.isFile() && t.dev === l.dev && t.ino === l.ino && t.nlink === 2) {
    await unlink(tmp).catch(() => undefined);
  }
}

async function linked(from: string, to: string): Promise<boolean> {
  try {
    // link() never follows a link at `to`: an existing name of any kind is EEXIST.
    await link(from, to);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromNodeError(err, to);
    return false;
  }
}

function sameFile(a: SeenLock | null, b: SeenLock): boolean {
  return a !== null && a.dev === b.dev && a.ino === b.ino && a.text === b.text;
}

// Removes the stale lock `seen`. Removers take turns through a second lock, so a lock is only ever
// removed by the one remover that saw it still be the same file with the same text: nothing can
// replace it in between (its owner is gone, takers need it gone, other removers wait), and no lock
// is moved back.
async function removeStale(path: string, tmp: string, seen: SeenLock): Promise<void> {
  const turn = `${path}.takeover`;
  if (!(await linked(tmp, turn))) {
    const other = await readLock(turn, path);
    // A remover that died in its few lines leaves its turn behind; clear it for the next attempt.
    if (other !== null && (await judge(turn, other)).stale) {
      await unlink(turn).catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 1));
    return;
  }
  try {
    if (sameFile(await readLock(path, path), seen)) await unlink(path).catch(() => undefined);
  } finally {
    await unlink(turn).catch(() => undefined);
  }
}
