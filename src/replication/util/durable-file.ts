import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fromNodeError } from '../../errors';
import { createFresh } from './safe-open';
import { writeAll } from './write-all';

// Small files that must be either old or new after a crash: write a temp file, fsync it,
// rename over the target, fsync the folder. The temp is created fresh (O_EXCL, no-follow), so a
// link planted at its name is refused, never written through; the rename replaces the target's
// name, never writes through it.

/** Atomically replaces `path` with `data`. */
export async function writeFileDurable(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await createFresh(tmp, 0o600);
  try {
    try {
      await writeAll(fh, typeof data === 'string' ? Buffer.from(data) : data, 0, tmp);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await syncDir(dirname(path));
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw fromNodeError(err, path);
  }
}

/** fsyncs a folder so a rename or unlink in it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw fromNodeError(err, dir);
  }
}

/** Removes a file if it exists (unlink removes a link itself, never what it points to). */
export async function removeIfExists(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw fromNodeError(err, path);
  }
}
