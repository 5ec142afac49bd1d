import { createReadStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { ReplicationError, fromNodeError, hasCode } from '../../errors';
import { componentLogger } from '../../log';
import { readCommitRecord, writeCommitRecord, type CommitRecord } from '../journal/commit-record';
import { ManifestFile } from '../manifest/manifest-file';
import { digestManifestFile } from '../manifest/manifest-merge';
import { DEFAULT_BLOCK_SIZE } from '../stream/format';
import { crashpoint } from '../util/crashpoint';
import { removeIfExists } from '../util/durable-file';
import { RESET_HINT } from '../util/json-file';
import { checkRealFolder } from '../util/safe-open';
import { acquireLock } from './lock';
import { type FolderIdentity, checkOwnPaths, checkSameStateFolder, checkStateFolder, stateFolderIdentity } from './preflight';
import { rehashFile, replicaDataWriteGuid } from './rehash';
import { HashPool } from '../source/hash-pool';
import { receiveIntoJournal, type ReplicaTarget } from './receive';
import { LOCK_FILE, MANIFEST_FOLDER, commitPath, completeCommitted, journalPath, manifestPathFor, reconcileDigests, recover, statePath } from './recovery';
import { ensureSpace } from './space';
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
    private readonly folder: FolderIdentity,
  ) {}

  /** Opens (creating if needed) and recovers a replica. Holds its lock until close(). */
  static async open(options: ReplicaStoreOptions): Promise<ReplicaStore> {
    const unlock = await ReplicaStore.lockFolder(options);
    try {
      return await ReplicaStore.openLocked(options, unlock);
    } catch (err) {
      await unlock();
      throw err;
    }
  }

  /**
   * Creates the state folder if needed, refuses one that is (or holds) a link instead of a real
   * folder, and takes its lock; then refuses links at the paths it writes (unless `checkPaths` is
   * false: reset removes them first). Returns the release function. (open() and resetReplica() use it.)
   */
  static async lockFolder(options: Pick<ReplicaStoreOptions, 'stateDir' | 'targets'>, checkPaths = true): Promise<() => Promise<void>> {
    if (new Set(options.targets.map((t) => t.name)).size !== options.targets.length) {
      throw new ReplicationError('CONFIG_INVALID', 'replica file names must be unique');
    }
    // mkdir -p goes through a symlinked folder: check before and after, so nothing of ours lands elsewhere.
    await checkStateFolder(options.stateDir);
    await mkdir(join(options.stateDir, MANIFEST_FOLDER), { recursive: true, mode: 0o700 }).catch((e: unknown) => {
      throw fromNodeError(e, options.stateDir);
    });
    await checkRealFolder(options.stateDir);
    await checkRealFolder(join(options.stateDir, MANIFEST_FOLDER));
    const unlock = await acquireLock(join(options.stateDir, LOCK_FILE));
    try {
      if (checkPaths) await checkOwnPaths(options.stateDir, options.targets);
    } catch (err) {
      await unlock();
      throw err;
    }
    return unlock;
  }

  /** open() for a caller that already holds the folder's lock (from lockFolder); close() releases it. */
  static async openLocked(options: ReplicaStoreOptions, unlock: () => Promise<void>): Promise<ReplicaStore> {
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
    const action = await recover(o);
    let state = (await readState(statePath(o))) ?? initialState(o.module, o.blockSize);
    if (state.Module !== o.module) throw new ReplicationError('REPLICA_INVALID', `replica belongs to module '${state.Module}', not '${o.module}'; ${RESET_HINT}`);
    state = await reconcileDigests(o, state);
    return new ReplicaStore(o, state, unlock, { action, generation: state.Generation }, await stateFolderIdentity(o.stateDir));
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
    await checkSameStateFolder(this.o.stateDir, this.folder);
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
      await ensureSpace({ stateDir: this.o.stateDir, targets: this.o.targets, manifestPath: (name) => this.manifestPath(name) }, record);
    } catch (err) {
      await removeIfExists(journalPath(this.o));
      throw err;
    } finally {
      for (const m of manifests.values()) await m?.close();
    }
    crashpoint('before-commit');
    await checkSameStateFolder(this.o.stateDir, this.folder);
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
