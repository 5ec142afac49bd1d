import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../config/write';
import { fromNodeError } from '../errors';

// Durable replace of a small file: temp (exclusive create), write, fsync, rename over the target,
// then fsync the folder so the rename itself survives a power cut. The witness answers a claim
// only after this returns: an answer it gave is never forgotten by a restart.

export async function writeDurable(path: string, data: string | Buffer): Promise<void> {
  await writeFileAtomic(path, data, 0o644);
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
