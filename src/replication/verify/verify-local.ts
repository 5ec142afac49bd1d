import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ReplicationError, fromNodeError } from '../../errors';
import { ReplicaStore } from '../replica/store';
import { LOCAL_MODULE, STATE_FOLDER, localTargets } from '../replicate';
import type { SourceMode } from '../source/open-layout';
import { verifyFiles, type VerifyReport } from './verify';

/** Verifies a local replica folder against its sources, recovering the folder first. */
export async function verifyLocal(o: { sources: string[]; replicaDir: string; mode?: SourceMode; maxRanges?: number }): Promise<VerifyReport & { generation: number }> {
  const targets = await localTargets(o.sources, o.replicaDir);
  await requireReplicaFolder(o.replicaDir);
  // Opening recovers an interrupted cycle, so we never compare against a torn replica.
  const store = await ReplicaStore.open({
    stateDir: join(o.replicaDir, STATE_FOLDER),
    module: LOCAL_MODULE,
    targets: targets.map((t) => ({ name: t.name, path: t.path, maxBytes: Number.MAX_SAFE_INTEGER })),
  });
  const generation = store.state().Generation;
  const blockSize = store.blockSize;
  await store.close();
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
