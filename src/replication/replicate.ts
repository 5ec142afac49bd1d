import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { ReplicationError, fromNodeError } from '../errors';
import type { ManifestFile } from './manifest/manifest-file';
import { ReplicaStore, type RecoveryOutcome } from './replica/store';
import { createDelta, type ChangedRangeSource, type DeltaReport } from './source/delta';
import type { HashPool } from './source/hash-pool';
import type { SourceMode } from './source/open-layout';

// One-shot local replication of a file set into a replica folder: the first run seeds, later runs
// send deltas. The replica of <source> is <dir>/<its file name>; vmmirror's state is <dir>/.vmmirror.

export const LOCAL_MODULE = 'local';
export const STATE_FOLDER = '.vmmirror';

export interface ReplicateOptions {
  sources: string[];
  toDir: string;
  blockSize?: number;
  mode?: SourceMode;
  /** Change-tracking mode: changed ranges per source path (virtual offsets for VHDX); an array or a stream. */
  changedRanges?: Map<string, ChangedRangeSource>;
  /** Rebuild the replica's manifests from its files first (after the replica was written to). */
  rehash?: boolean;
  /** Hashing workers to use (shared across runs); by default a pool of its own. */
  pool?: HashPool;
}

export interface ReplicateReport extends DeltaReport {
  recovery: RecoveryOutcome;
  blockSize: number;
  /** Replica files whose manifest was rebuilt from their content before this cycle. */
  rehashed: string[];
}

/** The replica folder's targets for a list of sources: <dir>/<basename>, unique names required. */
export async function localTargets(sources: string[], toDir: string): Promise<Array<{ name: string; path: string; source: string; size: number }>> {
  const seen = new Set<string>();
  const out: Array<{ name: string; path: string; source: string; size: number }> = [];
  for (const source of sources) {
    const name = basename(source);
    if (name === STATE_FOLDER) throw new ReplicationError('CONFIG_INVALID', `a source may not be named ${STATE_FOLDER}`);
    if (seen.has(name)) throw new ReplicationError('CONFIG_INVALID', `two sources share the file name ${name}; their replicas would collide`);
    seen.add(name);
    const st = await stat(source).catch((e: unknown) => {
      throw fromNodeError(e, source);
    });
    if (!st.isFile()) throw new ReplicationError('FILE_NOT_FOUND', `${source} is not a regular file`);
    const path = join(toDir, name);
    if (resolve(path) === resolve(source)) throw new ReplicationError('CONFIG_INVALID', `${source} is its own replica`);
    out.push({ name, path, source, size: st.size });
  }
  return out;
}

/** Replicates `sources` into `toDir` (recovering it first). */
export async function replicateLocal(o: ReplicateOptions): Promise<ReplicateReport> {
  const targets = await localTargets(o.sources, o.toDir);
  const store = await ReplicaStore.open({
    stateDir: join(o.toDir, STATE_FOLDER),
    module: LOCAL_MODULE,
    targets: targets.map((t) => ({ name: t.name, path: t.path, maxBytes: Number.MAX_SAFE_INTEGER })),
    blockSize: o.blockSize,
  });
  const manifests = new Map<string, ManifestFile | null>();
  try {
    // A replica file that is there before vmmirror ever wrote it (copied by hand, e.g. over USB to
    // seed a remote host) is adopted: hashed, so only what differs from the source is sent.
    const known = new Set(store.state().Files.map((f) => f.Name));
    const adopted: string[] = [];
    for (const t of targets) {
      if (!known.has(t.name) && ((await stat(t.path).catch(() => null))?.size ?? 0) > 0) adopted.push(t.name);
    }
    const rehashed = o.rehash === true ? targets.map((t) => t.name) : [...adopted, ...(await store.changedBehindOurBack())];
    if (rehashed.length > 0) await store.rehash(rehashed);
    for (const t of targets) manifests.set(t.name, await store.openManifest(t.name));
    const streamId = randomBytes(16).toString('hex');
    // A rehashed replica was written behind our back: the source's changed ranges say nothing
    // about those writes, so its file is scanned whole (a name without ranges is scanned).
    const tracked = targets.filter((t) => !rehashed.includes(t.name));
    const changed = o.changedRanges === undefined ? undefined : new Map(tracked.map((t) => [t.name, o.changedRanges?.get(t.source) ?? []]));
    const { stream, report } = await createDelta({
      module: LOCAL_MODULE,
      streamId,
      blockSize: store.blockSize,
      sources: targets.map((t) => ({ name: t.name, path: t.source, mode: o.mode ?? 'auto' })),
      replica: { generation: store.state().Generation, manifests },
      changedRanges: changed,
      pool: o.pool,
    });
    await store.receive(stream, { expectedStreamId: streamId });
    return { ...(await report), recovery: store.recovery, blockSize: store.blockSize, rehashed };
  } finally {
    for (const m of manifests.values()) await m?.close();
    await store.close();
  }
}
