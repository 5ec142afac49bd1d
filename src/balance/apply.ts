import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../config/write';
import { type ErrorCode, PeerError, UsageError, VmmirrorError, fromNodeError } from '../errors';

// Writes a balancing plan into the module files, never leaving the two hosts disagreeing
// silently: the peer is rewritten first (all or nothing, its own side checks the plan id), then
// this host's files one by one, each atomically (temp file, fsync, rename). A local failure puts
// back the local files already rewritten and asks the peer to undo; the error names what was
// restored and anything that could not be.

export interface FileRewrite {
  module: string;
  /** Absolute path of this host's module file. */
  path: string;
  /** Its text when the plan was made (a different text now means someone edited it: refused). */
  before: string;
  after: string;
}

export interface Move {
  module: string;
  from: string;
  to: string;
}

/** The peer's side of an apply (a peer route of the agent; none exists yet: docs/balance.md). */
export interface PeerModuleFiles {
  host: string;
  /** Rewrites the peer's module files for `moves`, all or none, if its own plan has this id. */
  apply(planId: string, moves: readonly Move[]): Promise<void>;
  /** Puts the peer's files back as they were before `apply`. */
  undo(planId: string, moves: readonly Move[]): Promise<void>;
}

async function checkUnchanged(rewrites: readonly FileRewrite[]): Promise<void> {
  for (const r of rewrites) {
    const now = await readFile(r.path, 'utf8').catch((e: unknown) => {
      throw fromNodeError(e, r.path);
    });
    if (now !== r.before) throw new UsageError(`${r.path} changed while the plan was made; run vmmirror balance again`, { details: { Module: r.module } });
  }
}

function codeOf(err: unknown): ErrorCode {
  return err instanceof VmmirrorError ? err.code : 'IO_ERROR';
}

/** Applies the rewrites here and, when `peer` is given, on the peer first. Returns the hosts rewritten. */
export async function applyRewrites(o: { planId: string; moves: readonly Move[]; rewrites: readonly FileRewrite[]; self: string; peer: PeerModuleFiles | null }): Promise<string[]> {
  try {
    await checkUnchanged(o.rewrites);
  } catch (err) {
    if (err instanceof UsageError) throw new VmmirrorError('BALANCE_PLAN_CHANGED', err.message, { details: err.details });
    throw err;
  }
  if (o.peer !== null) {
    try {
      await o.peer.apply(o.planId, o.moves);
    } catch (err) {
      const code = err instanceof VmmirrorError ? `${err.code}: ` : '';
      throw new PeerError('BALANCE_PEER_UNAVAILABLE', `${o.peer.host} could not rewrite its module files (${code}${(err as Error).message}); this host's were not changed either`, { cause: err, details: { Peer: o.peer.host, Cause: err instanceof VmmirrorError ? err.code : null } });
    }
  }
  const written: FileRewrite[] = [];
  for (const r of o.rewrites) {
    try {
      await writeFileAtomic(r.path, r.after);
      written.push(r);
    } catch (err) {
      throw await rollBack(o, written, r, err);
    }
  }
  return o.peer === null ? [o.self] : [o.peer.host, o.self];
}

async function rollBack(o: { planId: string; moves: readonly Move[]; peer: PeerModuleFiles | null }, written: FileRewrite[], failed: FileRewrite, err: unknown): Promise<VmmirrorError> {
  const restored: string[] = [];
  const stuck: string[] = [];
  for (const w of written.reverse()) {
    try {
      await writeFileAtomic(w.path, w.before);
      restored.push(w.module);
    } catch {
      stuck.push(w.path);
    }
  }
  let peerNote = '';
  if (o.peer !== null) {
    try {
      await o.peer.undo(o.planId, o.moves);
      peerNote = `; ${o.peer.host}'s files were restored too`;
    } catch (e) {
      peerNote = `; ${o.peer.host}'s files could NOT be restored (${(e as Error).message}): the hosts disagree until vmmirror balance --apply is run again`;
      stuck.push(`${o.peer.host}:modules`);
    }
  }
  const local = restored.length === 0 ? 'no module file here had been rewritten yet' : `the module files rewritten here were restored (${restored.reverse().join(', ')})`;
  const left = stuck.length === 0 ? '' : `; STILL REWRITTEN: ${stuck.join(', ')}`;
  return new VmmirrorError(codeOf(err), `rewriting ${failed.path} failed (${(err as Error).message}); ${local}${peerNote}${left}`, { cause: err, details: { Module: failed.module, Restored: restored, NotRestored: stuck } });
}
