import { join } from 'node:path';
import { ReplicaStore } from '../replica/store';
import { LOCAL_MODULE, STATE_FOLDER, localTargets } from '../replicate';
import type { SourceMode } from '../source/open-layout';
import { verifyFiles, type VerifyReport } from './verify';

/** Verifies a local replica folder against its sources, recovering the folder first. */
export async function verifyLocal(o: { sources: string[]; replicaDir: string; mode?: SourceMode; maxRanges?: number }): Promise<VerifyReport & { generation: number }> {
  const targets = await localTargets(o.sources, o.replicaDir);
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
