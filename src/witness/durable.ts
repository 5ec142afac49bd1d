import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fromNodeError } from '../errors';

// Durable replace of a small file: temp (exclusive create), write, fsync, rename over the target,
// then fsync the folder so the rename itself survives a power cut. The witness answers a claim
// only after this returns: an answer it gave is never forgotten by a restart.

export async function writeDurable(path: string, data: string | Buffer): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw fromNodeError(err, path);
  }
  await syncFolder(dirname(path));
}

/** fsync a folder (its entries). Windows cannot open a folder for fsync; NTFS journals renames itself. */
export async function syncFolder(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const fh = await open(dir, 'r').catch((e: unknown) => {
    throw fromNodeError(e, dir);
  });
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
