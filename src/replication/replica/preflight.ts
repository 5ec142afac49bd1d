import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { ReplicationError, fromNodeError } from '../../errors';
import { checkPlainFile, checkRealFolder } from '../util/safe-open';
import type { ReplicaTarget } from './receive';
import { COMMIT_FILE, JOURNAL_FILE, MANIFEST_FOLDER, STATE_FILE, manifestPathFor } from './recovery';

// Refuses, before anything is written, a replica folder where a link (symlink, junction, hard
// link) or a non-file sits at a path vmmirror will write: so the refusal comes while the replica
// is whole on its generation, not after a commit. Every open of those paths is no-follow and
// checks the opened file too (util/safe-open.ts); this only makes the refusal come first.

/** The state folder is a real folder (or absent): checked before mkdir, which would go through a link. */
export async function checkStateFolder(stateDir: string): Promise<void> {
  for (const dir of [stateDir, join(stateDir, MANIFEST_FOLDER)]) {
    const st = await lstat(dir).catch((e: unknown) => {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw fromNodeError(e, dir);
    });
    if (st !== null) await checkRealFolder(dir);
  }
}

/** REPLICA_UNSAFE_PATH when any path vmmirror writes for this replica is a link or not a plain file. */
export async function checkOwnPaths(stateDir: string, targets: ReplicaTarget[]): Promise<void> {
  const own = [STATE_FILE, `${STATE_FILE}.tmp`, JOURNAL_FILE, COMMIT_FILE, `${COMMIT_FILE}.tmp`].map((n) => join(stateDir, n));
  for (const t of targets) {
    const manifest = manifestPathFor({ stateDir }, t.name);
    own.push(manifest, `${manifest}.rehash`, t.path);
  }
  for (const path of own) await checkPlainFile(path);
}

/** Which folder the state folder path names now (device and inode, seen without following a link). */
export interface FolderIdentity {
  dev: number;
  ino: number;
}

export async function stateFolderIdentity(stateDir: string): Promise<FolderIdentity> {
  await checkStateFolder(stateDir);
  const st = await lstat(stateDir).catch((e: unknown) => {
    throw fromNodeError(e, stateDir);
  });
  return { dev: st.dev, ino: st.ino };
}

// Files in the state folder are opened by path, and O_NOFOLLOW guards only the last component:
// a state folder renamed away and replaced by a link while the store is open would send the
// journal, commit record, manifests and state elsewhere. Checked when a cycle starts and again
// just before its commit: this narrows the window to a few system calls; it does not close it
// (that needs directory-relative opens, which Node lacks). docs/replication.md says so.
export async function checkSameStateFolder(stateDir: string, opened: FolderIdentity): Promise<void> {
  const now = await stateFolderIdentity(stateDir);
  if (now.dev !== opened.dev || now.ino !== opened.ino) {
    throw new ReplicationError('REPLICA_UNSAFE_PATH', `${stateDir} was replaced by another folder while vmmirror had it open; nothing was committed: put the original back and run again`, { details: { path: stateDir, reason: 'replaced' } });
  }
}
