import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fromNodeError } from '../../errors';

// Small files that must be either old or new after a crash: write a temp file, fsync it,
// rename over the target, fsync the folder.

/** Atomically replaces `path` with `data`. */
export async function writeFileDurable(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.tmp`;
  try {
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(data);
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
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Removes a file if it exists. */
export async function removeIfExists(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw fromNodeError(err, path);
  }
}
