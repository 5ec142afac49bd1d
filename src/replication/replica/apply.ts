import type { ReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { ReplicationError, fromNodeError, hasCode } from '../../errors';
import { incrementalHash } from '../hash';
import type { CommitRecord } from '../journal/commit-record';
import { ManifestFile } from '../manifest/manifest-file';
import { resizeManifest } from '../manifest/manifest-merge';
import { decodeFrames } from '../stream/decoder';
import { crashpoint } from '../util/crashpoint';
import { RESET_HINT } from '../util/json-file';
import { openExisting, openOrCreate } from '../util/safe-open';
import { writevAll } from '../util/write-all';
import type { ReplicaTarget } from './receive';

// Applies a committed journal to the replica files and their manifests, in place. Idempotent:
// every step writes absolute content (sizes from the commit record, blocks at fixed offsets), so
// a crash anywhere is repaired by applying the same journal again.

/** Checks that the journal on disk is exactly what was committed (recovery path). */
export async function verifyJournal(journalPath: string, record: CommitRecord): Promise<void> {
  const h = incrementalHash();
  let total = 0;
  // A journal that is gone or no longer decodes is as damaged as one that fails its hash.
  const trailerStart = await findTrailerStart(journalPath, record).catch((err: unknown) => {
    if (hasCode(err, 'REPLICA_UNSAFE_PATH')) throw err;
    throw new ReplicationError('REPLICA_INVALID', `${journalPath}: committed journal is damaged or missing; ${RESET_HINT}`, { cause: err });
  });
  const rs = await readJournal(journalPath, { start: 0, end: trailerStart - 1 });
  for await (const chunk of rs) {
    h.update(chunk as Buffer);
    total += (chunk as Buffer).length;
  }
  if (total !== trailerStart || h.digestHex() !== record.StreamHash) {
    throw new ReplicationError('REPLICA_INVALID', `${journalPath}: committed journal is damaged; ${RESET_HINT}`);
  }
}

async function findTrailerStart(journalPath: string, record: CommitRecord): Promise<number> {
  let pos = 0;
  for await (const f of decodeFrames(await readJournal(journalPath), record.BlockSize)) {
    if (f.type === 'trailer') return pos;
    pos += f.raw.reduce((n, b) => n + b.length, 0);
  }
  throw new ReplicationError('REPLICA_INVALID', `${journalPath}: committed journal has no trailer`);
}

// The journal is read through a no-follow handle: a link at its name is refused, not read.
async function readJournal(path: string, range: { start?: number; end?: number } = {}): Promise<ReadStream> {
  const fh = await openExisting(path, 'r');
  return fh.createReadStream({ ...range, highWaterMark: 1 << 20 });
}

/** A manifest to apply into: only one that does not exist yet may be created empty. */
async function openManifestForApply(path: string, blockSize: number): Promise<ManifestFile> {
  try {
    // A crash inside the resize below, on an earlier try of this journal, may have left the
    // length and the header disagreeing; the resize sets both again.
    return await ManifestFile.open(path, 'r+', { lengthMayBeTorn: true });
  } catch (err) {
    // Anything else (damaged, a link, unreadable) is an error: an empty manifest would claim the
    // replica holds nothing and hide the damage.
    if (!hasCode(err, 'FILE_NOT_FOUND')) throw err;
    return ManifestFile.create(path, blockSize);
  }
}

/** Applies the committed journal; manifests are at `manifestPath(name)`. */
export async function applyJournal(journalPath: string, record: CommitRecord, targets: ReplicaTarget[], manifestPath: (name: string) => string): Promise<void> {
  const handles: FileHandle[] = [];
  const manifests: ManifestFile[] = [];
  try {
    for (const [i, f] of record.Files.entries()) {
      const target = targets[i];
      if (target === undefined || target.name !== f.Name || f.ToSize > target.maxBytes) {
        throw new ReplicationError('STREAM_WRONG_TARGET', `committed journal does not match the replica's files (${f.Name})`);
      }
      // No-follow, one link: a link at the replica's path must not send our writes elsewhere.
      const fh = await openOrCreate(target.path, 0o600);
      handles.push(fh);
      // Cut to the smaller size first, so the part a file grows by reads as zeros, as the
      // manifest rule says (a replay after a crash cuts and extends again: same result).
      try {
        await fh.truncate(Math.min(f.FromSize, f.ToSize));
        await fh.truncate(f.ToSize);
      } catch (e) {
        throw fromNodeError(e, target.path);
      }
      const mpath = manifestPath(f.Name);
      const m = await openManifestForApply(mpath, record.BlockSize);
      manifests.push(m);
      if (m.blockSize !== record.BlockSize) throw new ReplicationError('REPLICA_INVALID', `${mpath}: block size differs from the journal's`);
      await resizeManifest(m, f.FromSize, f.ToSize, record.BlockSize);
    }
    crashpoint('apply-resized');
    let run: { file: number; start: number; hashes: Buffer[] } | null = null;
    const flush = async (): Promise<void> => {
      if (run === null) return;
      await manifests[run.file].writeEntries(run.start, Buffer.concat(run.hashes));
      run = null;
    };
    // Contiguous blocks of one file are written together (one writev per run of up to 4 MiB).
    let data: { file: number; offset: number; parts: Buffer[]; bytes: number } | null = null;
    const writeData = async (): Promise<void> => {
      if (data === null) return;
      const d = data;
      data = null;
      await writevAll(handles[d.file], d.parts, d.offset, targets[d.file].path);
    };
    for await (const frame of decodeFrames(await readJournal(journalPath), record.BlockSize)) {
      if (frame.type !== 'block') continue;
      const b = frame.block;
      if (handles[b.fileIndex] === undefined || b.offset + b.data.length > record.Files[b.fileIndex].ToSize) {
        throw new ReplicationError('REPLICA_INVALID', 'committed journal has a block outside its files');
      }
      const d = data as { file: number; offset: number; parts: Buffer[]; bytes: number } | null;
      if (d !== null && d.file === b.fileIndex && d.offset + d.bytes === b.offset && d.bytes < 4 << 20) {
        d.parts.push(b.data);
        d.bytes += b.data.length;
      } else {
        await writeData();
        data = { file: b.fileIndex, offset: b.offset, parts: [b.data], bytes: b.data.length };
      }
      const index = b.offset / record.BlockSize;
      const current = run as { file: number; start: number; hashes: Buffer[] } | null;
      if (current !== null && current.file === b.fileIndex && current.start + current.hashes.length === index && current.hashes.length < 4096) {
        current.hashes.push(Buffer.from(b.hash));
      } else {
        await flush();
        run = { file: b.fileIndex, start: index, hashes: [Buffer.from(b.hash)] };
      }
      crashpoint('apply-block');
    }
    await writeData();
    await flush();
    for (const [i, fh] of handles.entries()) {
      await fh.sync().catch((e: unknown) => {
        throw fromNodeError(e, targets[i].path);
      });
    }
    for (const m of manifests) await m.sync();
    crashpoint('apply-synced');
  } finally {
    for (const fh of handles) await fh.close().catch(() => undefined);
    for (const m of manifests) await m.close().catch(() => undefined);
  }
}

