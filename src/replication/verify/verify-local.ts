import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ReplicationError, fromNodeError } from '../../errors';
import { readState } from '../replica/state';
import { ReplicaStore } from '../replica/store';
import { LOCAL_MODULE, STATE_FOLDER, localTargets } from '../replicate';
import type { SourceMode } from '../source/open-layout';
import { verifyFiles, type VerifyReport } from './verify';

/** Verifies a local replica folder against its sources, recovering the folder first. */
export async function verifyLocal(o: { sources: string[]; replicaDir: string; mode?: SourceMode; maxRanges?: number }): Promise<VerifyReport & { generation: number }> {
  const targets = await localTargets(o.sources, o.replicaDir);
  await requireReplicaFolder(o.replicaDir);
  const { generation, blockSize } = await openForVerify(o.replicaDir, targets).catch((err: unknown) => {
    if (!isReadOnlyFs(err)) throw err;
    return readOnlyState(o.replicaDir);
  });
  const report = await verifyFiles(
    targets.map((t) => ({ name: t.name, source: t.source, replica: t.path })),
    { blockSize, mode: o.mode, maxRanges: o.maxRanges },
  );
  return { ...report, generation };
}

// verify is a read-only command: opening a ReplicaStore creates its folders, so a folder that
// holds no replica (a typo, a disk not mounted) is refused here, before anything is created.
// A committed first generation not yet applied (no state.json, but journal.commit) still counts:
// opening the store completes it, as every command does.
async function requireReplicaFolder(replicaDir: string): Promise<void> {
  const exists = async (path: string): Promise<boolean> =>
    stat(path).then(
      () => true,
      (e: unknown) => {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
        throw fromNodeError(e, path);
      },
    );
  const dirStat = await stat(replicaDir).catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fromNodeError(e, replicaDir);
  });
  if (dirStat === null) throw new ReplicationError('FILE_NOT_FOUND', `replica folder ${replicaDir} does not exist (nothing was created)`, { details: { path: replicaDir } });
  if (!dirStat.isDirectory()) throw new ReplicationError('FILE_NOT_FOUND', `${replicaDir} is not a folder`, { details: { path: replicaDir } });
  const stateDir = join(replicaDir, STATE_FOLDER);
  if (!(await exists(join(stateDir, 'state.json'))) && !(await exists(join(stateDir, 'journal.commit')))) {
    throw new ReplicationError('FILE_NOT_FOUND', `${replicaDir} holds no replica: ${join(STATE_FOLDER, 'state.json')} is missing (run replicate first; nothing was created)`, {
      details: { path: stateDir },
    });
  }
}

async function openForVerify(replicaDir: string, targets: Array<{ name: string; path: string }>): Promise<{ generation: number; blockSize: number }> {
  // Opening recovers an interrupted cycle, so we never compare against a torn replica.
  const store = await ReplicaStore.open({
    stateDir: join(replicaDir, STATE_FOLDER),
    module: LOCAL_MODULE,
    targets: targets.map((t) => ({ name: t.name, path: t.path, maxBytes: Number.MAX_SAFE_INTEGER })),
  });
  try {
    return { generation: store.state().Generation, blockSize: store.blockSize };
  } finally {
    await store.close();
  }
}

function isReadOnlyFs(err: unknown): boolean {
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause;
  return cause?.code === 'EROFS';
}

// A replica on a read-only file system (a backup or snapshot mounted read-only) cannot be locked
// or recovered, but nothing can write it either: it is verified as it stands, unless a committed
// cycle is waiting to be applied (then its files are torn until a writable open applies it).
async function readOnlyState(replicaDir: string): Promise<{ generation: number; blockSize: number }> {
  const stateDir = join(replicaDir, STATE_FOLDER);
  const pending = await stat(join(stateDir, 'journal.commit')).then(
    () => true,
    () => false,
  );
  const state = await readState(join(stateDir, 'state.json'));
  if (pending || state === null) {
    throw new ReplicationError('REPLICA_INVALID', `${replicaDir} is on a read-only file system and holds a committed cycle not yet applied: no verdict (mount it writable once, so it is applied)`, {
      details: { path: stateDir },
    });
  }
  return { generation: state.Generation, blockSize: state.BlockSize };
}
