import { rename } from 'node:fs/promises';
import { ReplicationError, fromNodeError } from '../../errors';
import { HASH_BYTES } from '../hash';
import { ManifestFile } from '../manifest/manifest-file';
import { HashPool } from '../source/hash-pool';
import { readVhdxLayout } from '../vhdx';
import { syncDir } from '../util/durable-file';
import { checkPlainFile } from '../util/safe-open';
import { dirname } from 'node:path';

// When a replica was written behind vmmirror's back (the replica VM was started by hand, someone
// edited the file), its manifest no longer describes it. Rehashing reads the replica and rebuilds
// the manifest from what is really there, so the next cycle sends exactly what differs: the
// "resync, only what differs moves" primitive that reintegration after a failover also needs.

const CHUNK_BLOCKS = 64;

/** Rebuilds the manifest of one replica file by hashing it; returns the file's size. */
export async function rehashFile(replicaPath: string, manifestPath: string, blockSize: number, pool: HashPool): Promise<number> {
  // A link at the replica's path is refused here, before anything is hashed or reported as
  // rehashed (applying would refuse it too: it never writes through links).
  const size = (await checkPlainFile(replicaPath))?.size ?? 0;
  const tmp = `${manifestPath}.rehash`;
  const m = await ManifestFile.create(tmp, blockSize);
  try {
    await m.setFileSize(size);
    const count = m.entryCount;
    for (let start = 0; start < count; start += CHUNK_BLOCKS) {
      const n = Math.min(CHUNK_BLOCKS, count - start);
      const offset = start * blockSize;
      const length = Math.min(size, (start + n) * blockSize) - offset;
      const r = await pool.hash({ path: replicaPath, offset, length, blockSize, old: null, wantData: false });
      if (r.hashes.length < n * HASH_BYTES) throw new ReplicationError('IO_ERROR', `${replicaPath}: short read while rehashing`);
      await m.writeEntries(start, r.hashes.subarray(0, n * HASH_BYTES));
    }
    await m.sync();
  } finally {
    await m.close();
  }
  await rename(tmp, manifestPath).catch((e: unknown) => {
    throw fromNodeError(e, manifestPath);
  });
  await syncDir(dirname(manifestPath));
  return size;
}

/** The replica's current VHDX DataWriteGuid, or null when it is not a readable VHDX. */
export async function replicaDataWriteGuid(path: string): Promise<string | null> {
  try {
    return (await readVhdxLayout(path)).dataWriteGuid;
  } catch {
    return null;
  }
}
