import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { ReplicationError, fromNodeError } from '../../errors';
import { incrementalHash } from '../hash';
import type { CommitRecord } from '../journal/commit-record';
import { ManifestFile } from '../manifest/manifest-file';
import { resizeManifest } from '../manifest/manifest-merge';
import { decodeFrames } from '../stream/decoder';
import { crashpoint } from '../util/crashpoint';
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
    throw new ReplicationError('REPLICA_INVALID', `${journalPath}: committed journal is damaged or missing; its replica files must be resynchronised`, { cause: err });
  });
  const rs = createReadStream(journalPath, { start: 0, end: trailerStart - 1, highWaterMark: 1 << 20 });
  for await (const chunk of rs) {
    h.update(chunk as Buffer);
    total += (chunk as Buffer).length;
  }
  if (total !== trailerStart || h.digestHex() !== record.StreamHash) {
    throw new ReplicationError('REPLICA_INVALID', `${journalPath}: committed journal is damaged; its replica files must be resynchronised`);
  }
}

async function findTrailerStart(journalPath: string, record: CommitRecord): Promise<number> {
  let pos = 0;
  for await (const f of decodeFrames(createReadStream(journalPath, { highWaterMark: 1 << 20 }), record.BlockSize)) {
    if (f.type === 'trailer') return pos;
    pos += f.raw.reduce((n, b) => n + b.length, 0);
  }
  throw new ReplicationError('REPLICA_INVALID', `${journalPath}: committed journal has no trailer`);
}

async function openTarget(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fromNodeError(err, path);
    return open(path, 'w+', 0o600).catch((e: unknown) => {
      throw fromNodeError(e, path);
    });
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
      const fh = await openTarget(target.path);
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
      const m = await ManifestFile.open(mpath).catch(() => ManifestFile.create(mpath, record.BlockSize));
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
      await handles[d.file].writev(d.parts, d.offset).catch((e: unknown) => {
        throw fromNodeError(e, targets[d.file].path);
      });
    };
    for await (const frame of decodeFrames(createReadStream(journalPath, { highWaterMark: 1 << 20 }), record.BlockSize)) {
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
    for (const fh of handles) await fh.sync();
    for (const m of manifests) await m.sync();
    crashpoint('apply-synced');
  } finally {
    for (const fh of handles) await fh.close().catch(() => undefined);
    for (const m of manifests) await m.close().catch(() => undefined);
  }
}

