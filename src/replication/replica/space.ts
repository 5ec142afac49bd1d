import { stat, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ReplicationError, fromNodeError } from '../../errors';
import { HASH_BYTES } from '../hash';
import type { CommitRecord } from '../journal/commit-record';
import { MANIFEST_HEADER_BYTES, entryCountFor } from '../manifest/manifest-file';
import type { ReplicaTarget } from './receive';

// Refuses to commit what could not be applied. Everything written from the commit on is counted
// here, before the commit, so a full disk gives DISK_FULL while the replica is still whole on its
// generation: the commit record (and its temp), the blocks applied in place, each manifest's
// growth, and state.json's temp. Counts are upper bounds in whole file-system blocks: a write
// may allocate every block it touches, and a file's own metadata (extent tree) a few more.

// Room for a file system's own metadata per file written (extent tree or indirect blocks).
const METADATA_BLOCKS_PER_FILE = 4;
// One extent-tree block per this many written runs (ext4 holds 340 extents per 4 KiB block).
const RUNS_PER_METADATA_BLOCK = 256;
// state.json: a fixed part and one entry per file; generous (names can be long).
const STATE_FIXED_BYTES = 1024;
const STATE_BYTES_PER_FILE = 1024;

export interface SpaceContext {
  stateDir: string;
  targets: ReplicaTarget[];
  manifestPath: (name: string) => string;
}

interface Need {
  dir: string;
  fsBlock: number;
  bytes: number;
}

function roundUp(n: number, unit: number): number {
  return Math.ceil(n / unit) * unit;
}

async function deviceOf(dir: string): Promise<{ dev: number; fsBlock: number }> {
  try {
    const [st, fs] = await Promise.all([stat(dir), statfs(dir)]);
    return { dev: st.dev, fsBlock: fs.bsize };
  } catch (err) {
    throw fromNodeError(err, dir);
  }
}

/** Bytes a manifest may still allocate to describe `toSize` (its allocated blocks are reused). */
async function manifestGrowth(path: string, toSize: number, blockSize: number, fsBlock: number): Promise<number> {
  const full = roundUp(MANIFEST_HEADER_BYTES + entryCountFor(toSize, blockSize) * HASH_BYTES, fsBlock);
  const allocated = await stat(path).then(
    (s) => s.blocks * 512,
    () => 0,
  );
  return Math.max(0, full - allocated);
}

/** DISK_FULL unless every device has room for all that applying `record` will write. */
export async function ensureSpace(ctx: SpaceContext, record: CommitRecord): Promise<void> {
  const needs = new Map<number, Need>();
  const add = async (dir: string, bytes: (fsBlock: number) => Promise<number> | number): Promise<void> => {
    const { dev, fsBlock } = await deviceOf(dir);
    const need = needs.get(dev) ?? { dir, fsBlock, bytes: 0 };
    need.bytes += await bytes(fsBlock);
    needs.set(dev, need);
  };
  for (const [i, f] of record.Files.entries()) {
    const target = ctx.targets[i];
    await add(dirname(target.path), (fsBlock) => roundUp(f.Bytes, fsBlock) + fsBlock + (METADATA_BLOCKS_PER_FILE + Math.ceil(f.Blocks / RUNS_PER_METADATA_BLOCK)) * fsBlock);
    await add(dirname(ctx.manifestPath(f.Name)), (fsBlock) => manifestGrowth(ctx.manifestPath(f.Name), f.ToSize, record.BlockSize, fsBlock));
  }
  const commitBytes = Buffer.byteLength(JSON.stringify(record));
  const stateBytes = STATE_FIXED_BYTES + STATE_BYTES_PER_FILE * record.Files.length;
  // The commit record's temp, then state.json's temp written beside the old state.json.
  await add(ctx.stateDir, (fsBlock) => roundUp(commitBytes, fsBlock) + roundUp(stateBytes, fsBlock) + 2 * fsBlock);
  for (const { dir, bytes } of needs.values()) {
    let free: number;
    try {
      const s = await statfs(dir);
      free = s.bavail * s.bsize;
    } catch (err) {
      throw fromNodeError(err, dir);
    }
    if (free < bytes) {
      throw new ReplicationError('DISK_FULL', `not enough space to apply the generation in ${dir}: need ${bytes} bytes, ${free} free`, { details: { dir, need: bytes, free } });
    }
  }
}
