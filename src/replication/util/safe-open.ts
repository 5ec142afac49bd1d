import { constants, type Stats } from 'node:fs';
import { lstat, open, unlink, type FileHandle } from 'node:fs/promises';
import { ReplicationError, fromNodeError } from '../../errors';

// vmmirror's files inside a replica folder (replica files, state, journal, commit record,
// manifests, lock, and their temps) are opened so that a link planted at their path can never
// make vmmirror write somewhere else: no-follow opens (O_NOFOLLOW: a symlink fails with ELOOP),
// then a check of the OPENED file (fstat: a regular file with one link, so no other name shares
// its bytes). Windows has no O_NOFOLLOW: there a reparse point (symlink or junction; Node's lstat
// reports both as symbolic links) is refused by an lstat just before the open.

const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
// A FIFO planted at a name would block open(O_RDONLY) until a writer comes (a hang, not an error):
// non-blocking opens return at once, and the fstat below refuses it. On a regular file O_NONBLOCK
// changes nothing.
const NONBLOCK = constants.O_NONBLOCK ?? 0;
const IS_WINDOWS = process.platform === 'win32';

export type UnsafeReason = 'symlink' | 'hardlink' | 'not-a-file' | 'not-a-folder';

/** REPLICA_UNSAFE_PATH for `path`. */
export function unsafePath(path: string, reason: UnsafeReason): ReplicationError {
  const why = {
    symlink: 'is a symbolic link or reparse point',
    hardlink: 'has more than one hard link',
    'not-a-file': 'is not a regular file',
    'not-a-folder': 'is not a real folder',
  }[reason];
  return new ReplicationError('REPLICA_UNSAFE_PATH', `${path} ${why}; vmmirror never writes through links: replace it with a plain ${reason === 'not-a-folder' ? 'folder' : 'file'} or remove it`, {
    details: { path, reason },
  });
}

function openError(err: unknown, path: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  // Linux gives ELOOP for O_NOFOLLOW on a symlink; FreeBSD gives EMLINK.
  if (code === 'ELOOP' || code === 'EMLINK') return unsafePath(path, 'symlink');
  return fromNodeError(err, path);
}

async function refuseReparsePoint(path: string): Promise<void> {
  if (!IS_WINDOWS) return;
  const st = await lstat(path).catch(() => null);
  if (st?.isSymbolicLink() === true) throw unsafePath(path, 'symlink');
}

/** Throws unless `st` is a regular file (with exactly one link, unless `allowLinks`). */
export function checkOpened(st: Stats, path: string, allowLinks = false): void {
  if (!st.isFile()) throw unsafePath(path, 'not-a-file');
  if (!allowLinks && st.nlink !== 1) throw unsafePath(path, 'hardlink');
}

export interface OpenOptions {
  /** Skip the one-link check (the lock, whose holder links it from a temp name for an instant). */
  allowLinks?: boolean;
}

/** Opens an existing file without following a link at its name; FILE_NOT_FOUND when absent. */
export async function openExisting(path: string, mode: 'r' | 'r+', o: OpenOptions = {}): Promise<FileHandle> {
  await refuseReparsePoint(path);
  const flags = (mode === 'r' ? constants.O_RDONLY : constants.O_RDWR) | NOFOLLOW | NONBLOCK;
  const fh = await open(path, flags).catch((e: unknown) => {
    throw openError(e, path);
  });
  try {
    checkOpened(await fh.stat(), path, o.allowLinks);
    return fh;
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw fromNodeError(err, path);
  }
}

/**
 * Creates `path` anew (O_CREAT | O_EXCL: even a dangling link at the name makes it fail). A plain
 * leftover file there (a temp a crash left behind) is removed first; a link or anything that is not
 * a plain file is refused, never removed, so the operator sees what was planted.
 */
export async function createFresh(path: string, mode: number, access: 'w' | 'w+' = 'w'): Promise<FileHandle> {
  const old = await lstat(path).catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fromNodeError(e, path);
  });
  if (old !== null) {
    if (old.isSymbolicLink()) throw unsafePath(path, 'symlink');
    checkOpened(old, path);
    await unlink(path).catch((e: unknown) => {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fromNodeError(e, path);
    });
  }
  const flags = constants.O_CREAT | constants.O_EXCL | NOFOLLOW | (access === 'w' ? constants.O_WRONLY : constants.O_RDWR);
  return open(path, flags, mode).catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new ReplicationError('IO_ERROR', `${path} appeared while vmmirror was creating it`);
    throw openError(e, path);
  });
}

/** Opens `path` read-write, creating it when absent; never through a link. */
export async function openOrCreate(path: string, mode: number): Promise<FileHandle> {
  try {
    return await openExisting(path, 'r+');
  } catch (err) {
    if ((err as { code?: string }).code !== 'FILE_NOT_FOUND') throw err;
    return createFresh(path, mode, 'w+');
  }
}

/** Throws REPLICA_UNSAFE_PATH unless `path` is a real folder (not a symlink or junction to one). */
export async function checkRealFolder(path: string): Promise<void> {
  const st = await lstat(path).catch((e: unknown) => {
    throw fromNodeError(e, path);
  });
  if (st.isSymbolicLink()) throw unsafePath(path, 'symlink');
  if (!st.isDirectory()) throw unsafePath(path, 'not-a-folder');
}

/** lstat-level check of an existing path (for files vmmirror only reads, e.g. before hashing). */
export async function checkPlainFile(path: string): Promise<Stats | null> {
  const st = await lstat(path).catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fromNodeError(e, path);
  });
  if (st === null) return null;
  if (st.isSymbolicLink()) throw unsafePath(path, 'symlink');
  checkOpened(st, path);
  return st;
}
