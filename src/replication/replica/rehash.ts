import { rename, stat } from 'node:fs/promises';
import { ReplicationError, fromNodeError } from '../../errors';
import { HASH_BYTES } from '../hash';
import { ManifestFile } from '../manifest/manifest-file';
import { HashPool } from '../source/hash-pool';
import { readVhdxLayout } from '../vhdx';
import { syncDir } from '../util/durable-file';
import { dirname } from 'node:path';

// When a replica was written behind vmmirror's back (the replica VM was started by hand, someone
// edited the file), its manifest no longer describes it. Rehashing reads the replica and rebuilds
// the manifest from what is really there, so the next cycle sends exactly what differs: the
// "resync, only what differs moves" primitive that reintegration after a failover also needs.

const CHUNK_BLOCKS = 64;

/** Rebuilds the manifest of one replica file by hashing it; returns the file's size. */
export async function rehashFile(replicaPath: string, manifestPath: string, blockSize: number, pool: HashPool): Promise<number> {
  const size = await stat(replicaPath).then(
    (s) => s.size,
    (e: unknown) => {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw fromNodeError(e, replicaPath);
    },
  );
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
  await rename(tmp, manifestPath);
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
