import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { fromNodeError } from '../../errors';
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
