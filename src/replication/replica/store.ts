import { createReadStream } from 'node:fs';
import { mkdir, stat, statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { ReplicationError, fromNodeError, hasCode } from '../../errors';
import { componentLogger } from '../../log';
import { readCommitRecord, writeCommitRecord, type CommitRecord } from '../journal/commit-record';
import { ManifestFile } from '../manifest/manifest-file';
import { digestManifestFile } from '../manifest/manifest-merge';
import { DEFAULT_BLOCK_SIZE } from '../stream/format';
import { crashpoint } from '../util/crashpoint';
import { removeIfExists, syncDir } from '../util/durable-file';
import { applyJournal, verifyJournal } from './apply';
import { acquireLock } from './lock';
import { rehashFile, replicaDataWriteGuid } from './rehash';
import { HashPool } from '../source/hash-pool';
import { receiveIntoJournal, type ReplicaTarget } from './receive';
import { initialState, readState, writeState, type ReplicaState } from './state';

const log = componentLogger('replica');

export interface ReplicaStoreOptions {
  /** vmmirror's own state for this replica (manifests, journal, state.json). */
  stateDir: string;
  module: string;
  /** The replica files, from this host's own configuration; never from the wire. */
  targets: ReplicaTarget[];
  /** Block size for a new replica; an existing one keeps its own (a different value is an error). */
  blockSize?: number;
}

interface ResolvedOptions extends ReplicaStoreOptions {
  blockSize: number;
}

export interface ApplyReport {
  generation: number;
  streamId: string;
  blocks: number;
  bytes: number;
  files: Array<{ name: string; size: number; manifestDigest: string; contentDigest: string }>;
}

export interface RecoveryOutcome {
  action: 'none' | 'discarded-journal' | 'reapplied-journal';
  generation: number;
}

// The receiving side (S) of replication: a set of replica files that always sits on exactly one
// generation. open() recovers first, so no caller ever observes a torn replica (DESIGN I1).
export class ReplicaStore {
  private constructor(
    private readonly o: ResolvedOptions,
    private current: ReplicaState,
    private readonly unlock: () => Promise<void>,
    readonly recovery: RecoveryOutcome,
  ) {}

  /** Opens (creating if needed) and recovers a replica. Holds its lock until close(). */
  static async open(options: ReplicaStoreOptions): Promise<ReplicaStore> {
    if (new Set(options.targets.map((t) => t.name)).size !== options.targets.length) {
      throw new ReplicationError('CONFIG_INVALID', 'replica file names must be unique');
    }
    await mkdir(join(options.stateDir, 'manifests'), { recursive: true, mode: 0o700 }).catch((e: unknown) => {
      throw fromNodeError(e, options.stateDir);
    });
    const unlock = await acquireLock(join(options.stateDir, 'lock'));
    try {
      const before = await readState(join(options.stateDir, 'state.json'));
      // Manifests fix the block size: a generation, manifests built by adopting (rehashing) replica
      // files before the first one, or a committed but unapplied first generation.
      const fixed = before !== null && (before.Generation > 0 || before.Files.length > 0);
      const pending = fixed ? null : await readCommitRecord(join(options.stateDir, 'journal.commit'));
      const blockSize = fixed ? before.BlockSize : (pending?.BlockSize ?? options.blockSize ?? DEFAULT_BLOCK_SIZE);
      if (options.blockSize !== undefined && options.blockSize !== blockSize) {
        throw new ReplicationError('REPLICA_INVALID', `replica uses ${blockSize}-byte blocks, asked for ${options.blockSize}`);
      }
      const o: ResolvedOptions = { ...options, blockSize };
      const recovery = await recover(o);
      let state = (await readState(statePath(o))) ?? initialState(o.module, o.blockSize);
      if (state.Module !== o.module) throw new ReplicationError('REPLICA_INVALID', `replica belongs to module '${state.Module}', not '${o.module}'`);
      state = await reconcileDigests(o, state);
      return new ReplicaStore(o, state, unlock, { ...recovery, generation: state.Generation });
    } catch (err) {
      await unlock();
      throw err;
    }
  }

  /** The generation this replica holds and, per file, its size and digests. */
  state(): ReplicaState {
    return structuredClone(this.current);
  }

  /**
   * Replica files written by someone else since the last generation: a VHDX whose DataWriteGuid
   * differs from the one recorded (Hyper-V changes it before any visible write), or that no
   * longer parses, or any file that is gone or has another size than recorded. Their manifests
   * cannot be trusted: rehash them before the next cycle.
   */
  async changedBehindOurBack(): Promise<string[]> {
    const out: string[] = [];
    for (const f of this.current.Files) {
      const target = this.o.targets.find((t) => t.name === f.Name);
      if (target === undefined) continue;
      // Any file (raw ones have no DataWriteGuid): gone or resized means it was touched.
      const size = await stat(target.path).then(
        (s) => s.size,
        () => -1,
      );
      if (size !== f.Size) out.push(f.Name);
      else if (f.DataWriteGuid !== null && (await replicaDataWriteGuid(target.path)) !== f.DataWriteGuid) out.push(f.Name);
    }
    return out;
  }

  /** Rebuilds the manifests of `names` (default: all) from the replica files themselves. */
  async rehash(names: string[] = this.o.targets.map((t) => t.name)): Promise<void> {
    const pool = new HashPool();
    try {
      const files = [...this.current.Files];
      for (const name of names) {
        const target = this.o.targets.find((t) => t.name === name);
        if (target === undefined) throw new ReplicationError('STREAM_WRONG_TARGET', `no replica file named ${name}`);
        const size = await rehashFile(target.path, this.manifestPath(name), this.o.blockSize, pool);
        const m = await ManifestFile.open(this.manifestPath(name), 'r');
        const digest = await digestManifestFile(m, this.o.blockSize);
        await m.close();
        const i = files.findIndex((f) => f.Name === name);
        const entry = { Name: name, Size: size, ManifestDigest: digest, ContentDigest: null, DataWriteGuid: await replicaDataWriteGuid(target.path) };
        if (i >= 0) files[i] = entry;
        else files.push(entry);
      }
      this.current = { ...this.current, Files: files };
      await writeState(statePath(this.o), this.current);
      log.warn({ module: this.o.module, files: names }, 'replica manifests rebuilt from the replica files');
    } finally {
      await pool.close();
    }
  }

  /** What a sender needs at the start of a cycle: generation, block size, per-file size and manifest digest. */
  async cycleState(): Promise<{ generation: number; blockSize: number; files: Array<{ name: string; size: number; manifestDigest: string }> }> {
    const empty = await digestManifestFile(null, this.o.blockSize);
    return {
      generation: this.current.Generation,
      blockSize: this.o.blockSize,
      files: this.o.targets.map((t) => {
        const f = this.current.Files.find((x) => x.Name === t.name);
        return { name: t.name, size: f?.Size ?? 0, manifestDigest: f?.ManifestDigest ?? empty };
      }),
    };
  }

  get blockSize(): number {
    return this.o.blockSize;
  }

  get targets(): ReplicaTarget[] {
    return this.o.targets.map((t) => ({ ...t }));
  }

  /** Path of the manifest of replica file `name` (for P's cache when both sides are local). */
  manifestPath(name: string): string {
    return manifestPathFor(this.o, name);
  }

  /** Opens this replica's manifest of `name` read-only; null when it has none yet. */
  async openManifest(name: string): Promise<ManifestFile | null> {
    if (!this.o.targets.some((t) => t.name === name)) throw new ReplicationError('STREAM_WRONG_TARGET', `no replica file named ${name}`);
    // A manifest left by a file that is not in this generation (it left the set) describes a
    // replica file that may be gone: the file counts as holding nothing, as cycleState() says.
    if (!this.current.Files.some((f) => f.Name === name)) return null;
    try {
      return await ManifestFile.open(this.manifestPath(name), 'r');
    } catch (err) {
      if (hasCode(err, 'FILE_NOT_FOUND')) return null;
      throw err;
    }
  }

  /** The manifest bytes of `name`, to send to a sender whose cached copy is stale. */
  manifestStream(name: string): Readable {
    if (!this.o.targets.some((t) => t.name === name)) throw new ReplicationError('STREAM_WRONG_TARGET', `no replica file named ${name}`);
    return createReadStream(this.manifestPath(name), { highWaterMark: 1 << 20 });
  }

  /** Receives one delta stream: journal, verify, commit, apply. On any error the replica stays on its generation. */
  async receive(source: AsyncIterable<Uint8Array>, options: { expectedStreamId?: string } = {}): Promise<ApplyReport> {
    // A generation committed by an earlier receive whose apply failed is completed first: its
    // journal is the only way back to a whole replica and must not be overwritten.
    if ((await readCommitRecord(commitPath(this.o))) !== null) {
      await recover(this.o);
      this.current = (await readState(statePath(this.o))) ?? this.current;
    }
    const manifests = new Map<string, ManifestFile | null>();
    let record: CommitRecord;
    try {
      for (const t of this.o.targets) manifests.set(t.name, await this.openManifest(t.name));
      record = await receiveIntoJournal(
        { module: this.o.module, blockSize: this.o.blockSize, targets: this.o.targets, state: this.current, manifests, journalPath: journalPath(this.o), expectedStreamId: options.expectedStreamId },
        source,
      );
      await ensureSpace(this.o.targets, record);
    } catch (err) {
      await removeIfExists(journalPath(this.o));
      throw err;
    } finally {
      for (const m of manifests.values()) await m?.close();
    }
    crashpoint('before-commit');
    await writeCommitRecord(commitPath(this.o), record);
    crashpoint('after-commit');
    this.current = await completeCommitted(this.o, record, this.current);
    log.info({ module: this.o.module, generation: record.ToGeneration }, 'replica generation applied');
    return {
      generation: record.ToGeneration,
      streamId: record.StreamId,
      blocks: record.Files.reduce((n, f) => n + f.Blocks, 0),
      bytes: record.Files.reduce((n, f) => n + f.Bytes, 0),
      files: record.Files.map((f) => ({ name: f.Name, size: f.ToSize, manifestDigest: f.ManifestDigest, contentDigest: f.ContentDigest })),
    };
  }

  /** Releases the lock. */
  async close(): Promise<void> {
    await this.unlock();
  }
}

function statePath(o: ResolvedOptions): string {
  return join(o.stateDir, 'state.json');
}
function journalPath(o: ResolvedOptions): string {
  return join(o.stateDir, 'journal.data');
}
function commitPath(o: ResolvedOptions): string {
  return join(o.stateDir, 'journal.commit');
}
function manifestPathFor(o: ResolvedOptions, name: string): string {
  return join(o.stateDir, 'manifests', `${name}.manifest`);
}

// Completes a crash-interrupted cycle: a committed journal is applied again, an uncommitted one dropped.
async function recover(o: ResolvedOptions): Promise<Omit<RecoveryOutcome, 'generation'>> {
  const record = await readCommitRecord(commitPath(o));
  if (record !== null) {
    const state = (await readState(statePath(o))) ?? initialState(o.module, o.blockSize);
    if (state.Generation === record.ToGeneration) {
      // Crashed after recording the generation: only the clean-up is left.
      await finishCleanup(o);
      return { action: 'reapplied-journal' };
    }
    await verifyJournal(journalPath(o), record);
    await completeCommitted(o, record, state);
    log.warn({ module: o.module, generation: record.ToGeneration }, 'recovered: re-applied a committed journal');
    return { action: 'reapplied-journal' };
  }
  if (await removeIfExists(journalPath(o))) {
    log.warn({ module: o.module }, 'recovered: discarded an uncommitted journal');
    return { action: 'discarded-journal' };
  }
  return { action: 'none' };
}

async function completeCommitted(o: ResolvedOptions, record: CommitRecord, previous: ReplicaState): Promise<ReplicaState> {
  await applyJournal(journalPath(o), record, o.targets, (name) => manifestPathFor(o, name));
  for (const t of o.targets) await syncDir(dirname(t.path));
  const next: ReplicaState = {
    ...previous,
    Generation: record.ToGeneration,
    BlockSize: record.BlockSize,
    TakenAt: record.TakenAt,
    AppliedAt: new Date().toISOString(),
    LastStreamId: record.StreamId,
    Files: record.Files.map((f) => ({ Name: f.Name, Size: f.ToSize, ManifestDigest: f.ManifestDigest, ContentDigest: f.ContentDigest, DataWriteGuid: f.DataWriteGuid })),
  };
  await writeState(statePath(o), next);
  crashpoint('after-state');
  await finishCleanup(o);
  return next;
}

// Outside a committed journal the manifest is the truth about the replica (apply and rehash both
// write it before state.json); a crash between the two leaves a stale digest, fixed here.
async function reconcileDigests(o: ResolvedOptions, state: ReplicaState): Promise<ReplicaState> {
  let changed = false;
  const files = [];
  for (const f of state.Files) {
    const m = await ManifestFile.open(manifestPathFor(o, f.Name), 'r').catch(() => null);
    const digest = await digestManifestFile(m, o.blockSize);
    const size = m?.fileSize ?? 0;
    await m?.close();
    if (digest !== f.ManifestDigest || size !== f.Size) {
      changed = true;
      log.warn({ module: o.module, file: f.Name }, 'replica state named another manifest digest; using the manifest');
      files.push({ ...f, ManifestDigest: digest, Size: size, ContentDigest: null });
    } else files.push(f);
  }
  if (!changed) return state;
  const next = { ...state, Files: files };
  await writeState(statePath(o), next);
  return next;
}

async function finishCleanup(o: ResolvedOptions): Promise<void> {
  await removeIfExists(commitPath(o));
  await removeIfExists(journalPath(o));
  await syncDir(o.stateDir);
}

// Refuses to commit what could not be applied: applying may allocate up to every block it writes.
async function ensureSpace(targets: ReplicaTarget[], record: CommitRecord): Promise<void> {
  const needByDevice = new Map<number, { dir: string; bytes: number }>();
  for (const [i, f] of record.Files.entries()) {
    const dir = dirname(targets[i].path);
    const dev = (await stat(dir).catch((e: unknown) => {
      throw fromNodeError(e, dir);
    })).dev;
    const entry = needByDevice.get(dev) ?? { dir, bytes: 0 };
    entry.bytes += f.Bytes;
    needByDevice.set(dev, entry);
  }
  for (const { dir, bytes } of needByDevice.values()) {
    const s = await statfs(dir);
    const free = s.bavail * s.bsize;
    if (free < bytes) {
      throw new ReplicationError('DISK_FULL', `not enough space to apply the generation in ${dir}: need ${bytes} bytes, ${free} free`, { details: { dir, need: bytes, free } });
    }
  }
}

