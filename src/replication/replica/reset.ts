import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fromNodeError, hasCode } from '../../errors';
import { componentLogger } from '../../log';
import { DEFAULT_BLOCK_SIZE } from '../stream/format';
import { removeIfExists, syncDir } from '../util/durable-file';
import { checkOwnPaths } from './preflight';
import type { ReplicaTarget } from './receive';
import { readCommitRecord } from '../journal/commit-record';
import { applyJournal, verifyJournal } from './apply';
import { COMMIT_FILE, JOURNAL_FILE, MANIFEST_FOLDER, STATE_FILE, manifestPathFor } from './recovery';
import { readState } from './state';
import { ReplicaStore } from './store';

// The way out of a replica whose own state can no longer be trusted or read (a damaged committed
// journal, a damaged state.json, another module's state, an unreadable block size): discard
// vmmirror's state (state, journal, commit record, manifests, their temps) and rebuild the
// manifests by hashing the replica files, which are kept. The replica is then on generation 0
// with known content, like a replica copied in by hand: the next cycle sends only what differs.

const log = componentLogger('replica');

export interface ResetOptions {
  stateDir: string;
  module: string;
  /** The replica files to rehash (those that do not exist are recorded as empty). */
  targets: ReplicaTarget[];
  /** Block size of the rebuilt manifests; default: the old state's, else the default. */
  blockSize?: number;
}

export interface ResetReport {
  /** Names (inside the state folder) of what was discarded. */
  discarded: string[];
  blockSize: number;
  files: Array<{ name: string; size: number }>;
}

// Everything of vmmirror's own in the state folder but the lock and its takeover turn (the lock
// code handles those; reset holds the lock while it works).
const OWN_FILES = [STATE_FILE, `${STATE_FILE}.tmp`, JOURNAL_FILE, COMMIT_FILE, `${COMMIT_FILE}.tmp`];

/** Discards vmmirror's state for a replica and rehashes its files (under the replica's lock). */
export async function resetReplica(o: ResetOptions): Promise<ResetReport> {
  // Links at vmmirror's own paths are removed below (unlink removes the link, not its target).
  const unlock = await ReplicaStore.lockFolder(o, false);
  let store: ReplicaStore | undefined;
  try {
    // The old block size is kept when the state still says it; a state that cannot be read is
    // exactly what reset is for, so it only loses that hint.
    const old = await readState(join(o.stateDir, STATE_FILE)).catch((err: unknown) => {
      if (hasCode(err, 'REPLICA_INVALID') || hasCode(err, 'REPLICA_UNSAFE_PATH')) return null;
      throw err;
    });
    const blockSize = o.blockSize ?? old?.BlockSize ?? DEFAULT_BLOCK_SIZE;
    const discarded: string[] = [];
    const manifests = join(o.stateDir, MANIFEST_FOLDER);
    await discardManifests(manifests, discarded);
    const applied = await applyIntactJournal(o);
    for (const name of OWN_FILES) if (await removeIfExists(join(o.stateDir, name))) discarded.push(name);
    await discardManifests(manifests, discarded);
    await syncDir(manifests);
    await syncDir(o.stateDir);
    log.warn({ module: o.module, discarded, appliedCommittedJournal: applied }, 'replica reset: discarded vmmirror state; rehashing the replica files');
    await checkOwnPaths(o.stateDir, o.targets);
    store = await ReplicaStore.openLocked({ ...o, blockSize }, unlock);
    await store.rehash(o.targets.map((t) => t.name));
    const files = store.state().Files.map((f) => ({ name: f.Name, size: f.Size }));
    return { discarded, blockSize, files };
  } finally {
    if (store !== undefined) await store.close();
    else await unlock();
  }
}

async function discardManifests(manifests: string, discarded: string[]): Promise<void> {
  for (const entry of await readdir(manifests).catch((e: unknown) => {
    throw fromNodeError(e, manifests);
  })) {
    // rm removes a link itself, never what it points to.
    await rm(join(manifests, entry), { recursive: true, force: true }).catch((e: unknown) => {
      throw fromNodeError(e, join(manifests, entry));
    });
    if (!discarded.includes(`${MANIFEST_FOLDER}/${entry}`)) discarded.push(`${MANIFEST_FOLDER}/${entry}`);
  }
}

// A committed journal may be the only copy of its generation (its primary may be gone, and a crash
// mid-apply left the files between N and N+1). When it is intact, its blocks go into the replica
// files before it is discarded, so reset leaves them on N+1, never torn. A damaged one, or one that
// names a file the folder no longer has as a plain file, cannot be applied: it is discarded (logged).
// Its manifests are written into the emptied manifest folder and discarded after, like the rest.
async function applyIntactJournal(o: ResetOptions): Promise<boolean> {
  const notApplied = (why: string): false => {
    log.warn({ module: o.module, why }, 'replica reset: a committed journal could not be applied; discarding it');
    return false;
  };
  const record = await readCommitRecord(join(o.stateDir, COMMIT_FILE)).catch((err: unknown) => {
    if (hasCode(err, 'REPLICA_INVALID')) return undefined;
    throw err;
  });
  if (record === null) return false;
  if (record === undefined) return notApplied('the commit record is damaged');
  const targets = record.Files.map((f) => o.targets.find((t) => t.name === f.Name));
  if (targets.some((t) => t === undefined)) return notApplied('it names a file that is not a plain file of the replica folder');
  try {
    await verifyJournal(join(o.stateDir, JOURNAL_FILE), record);
  } catch (err) {
    if (hasCode(err, 'REPLICA_INVALID')) return notApplied('the journal is damaged');
    throw err;
  }
  await applyJournal(join(o.stateDir, JOURNAL_FILE), record, targets as ReplicaTarget[], (name) => manifestPathFor(o, name));
  log.warn({ module: o.module, generation: record.ToGeneration }, 'replica reset: applied the committed journal first');
  return true;
}

export type SkipReason = 'symlink' | 'hardlink' | 'not-a-file';

/** The replica files of a local replica folder (`replicate --to <dir>`): its plain top-level files. */
export async function localReplicaFiles(dir: string, stateFolder: string): Promise<{ files: string[]; skipped: Array<{ name: string; reason: SkipReason }> }> {
  const files: string[] = [];
  const skipped: Array<{ name: string; reason: SkipReason }> = [];
  const entries = await readdir(dir).catch((e: unknown) => {
    throw fromNodeError(e, dir);
  });
  for (const name of entries.sort()) {
    if (name === stateFolder) continue;
    const st = await lstat(join(dir, name));
    if (st.isSymbolicLink()) skipped.push({ name, reason: 'symlink' });
    else if (!st.isFile()) skipped.push({ name, reason: 'not-a-file' });
    else if (st.nlink !== 1) skipped.push({ name, reason: 'hardlink' });
    else files.push(name);
  }
  return { files, skipped };
}
