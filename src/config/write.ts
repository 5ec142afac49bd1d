import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { fromNodeError } from '../errors';

// Writes a file whole or not at all, with its permission set at creation (never chmod after:
// a secret must not exist with a wider mode even for an instant). File-system failures come out
// as coded errors (DISK_FULL, FILE_NOT_FOUND, IO_ERROR naming the path), never as raw Node errors.

/** Atomic write: temp file created with `mode` (O_EXCL), fsync, rename over `path`. */
export async function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', mode).catch((e: unknown) => {
    throw fromNodeError(e, tmp);
  });
  try {
    try {
      // FileHandle.writeFile loops until every byte is written (or throws).
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
}

/** Owner-only secret (private key, token): 0600 from the first byte. */
export function writeSecretFile(path: string, data: string | Buffer): Promise<void> {
  return writeFileAtomic(path, data, 0o600);
}
