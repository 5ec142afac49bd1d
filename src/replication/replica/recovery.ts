import { dirname, join } from 'node:path';
import { hasCode } from '../../errors';
import { componentLogger } from '../../log';
import { readCommitRecord, type CommitRecord } from '../journal/commit-record';
import { ManifestFile } from '../manifest/manifest-file';
import { digestManifestFile } from '../manifest/manifest-merge';
import { crashpoint } from '../util/crashpoint';
import { removeIfExists, syncDir } from '../util/durable-file';
import { applyJournal, verifyJournal } from './apply';
import type { ReplicaTarget } from './receive';
import { initialState, readState, writeState, type ReplicaState } from './state';

// Where a replica's own state lives in its state folder, and the steps that complete a
// committed generation (after a receive, or on open after a crash) or discard an uncommitted one.

const log = componentLogger('replica');

export interface StoreLayout {
  stateDir: string;
  module: string;
  targets: ReplicaTarget[];
  blockSize: number;
}

export const STATE_FILE = 'state.json';
export const JOURNAL_FILE = 'journal.data';
export const COMMIT_FILE = 'journal.commit';
export const MANIFEST_FOLDER = 'manifests';
export const LOCK_FILE = 'lock';

export function statePath(o: { stateDir: string }): string {
  return join(o.stateDir, STATE_FILE);
}
export function journalPath(o: { stateDir: string }): string {
  return join(o.stateDir, JOURNAL_FILE);
}
export function commitPath(o: { stateDir: string }): string {
  return join(o.stateDir, COMMIT_FILE);
}
export function manifestPathFor(o: { stateDir: string }, name: string): string {
  return join(o.stateDir, MANIFEST_FOLDER, `${name}.manifest`);
}

export type RecoveryAction = 'none' | 'discarded-journal' | 'reapplied-journal';

// Completes a crash-interrupted cycle: a committed journal is applied again, an uncommitted one dropped.
export async function recover(o: StoreLayout): Promise<RecoveryAction> {
  const record = await readCommitRecord(commitPath(o));
  if (record !== null) {
    const state = (await readState(statePath(o))) ?? initialState(o.module, o.blockSize);
    if (state.Generation === record.ToGeneration) {
      // Crashed after recording the generation: only the clean-up is left.
      await finishCleanup(o);
      return 'reapplied-journal';
    }
    await verifyJournal(journalPath(o), record);
    await completeCommitted(o, record, state);
    log.warn({ module: o.module, generation: record.ToGeneration }, 'recovered: re-applied a committed journal');
    return 'reapplied-journal';
  }
  if (await removeIfExists(journalPath(o))) {
    log.warn({ module: o.module }, 'recovered: discarded an uncommitted journal');
    return 'discarded-journal';
  }
  return 'none';
}

export async function completeCommitted(o: StoreLayout, record: CommitRecord, previous: ReplicaState): Promise<ReplicaState> {
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
export async function reconcileDigests(o: StoreLayout, state: ReplicaState): Promise<ReplicaState> {
  let changed = false;
  const files = [];
  for (const f of state.Files) {
    // Only a manifest that is not there reads as empty; a damaged one or a link is an error.
    const m = await ManifestFile.open(manifestPathFor(o, f.Name), 'r').catch((err: unknown) => {
      if (hasCode(err, 'FILE_NOT_FOUND')) return null;
      throw err;
    });
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

export async function finishCleanup(o: { stateDir: string }): Promise<void> {
  await removeIfExists(commitPath(o));
  await removeIfExists(journalPath(o));
  await syncDir(o.stateDir);
}
