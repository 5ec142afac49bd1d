import { ReplicationError, fromNodeError } from '../../errors';
import { hashBlock, incrementalHash } from '../hash';
import type { CommitFile, CommitRecord } from '../journal/commit-record';
import { ManifestMerger } from '../manifest/manifest-merge';
import type { ManifestFile } from '../manifest/manifest-file';
import { decodeFrames } from '../stream/decoder';
import type { StreamHeader } from '../stream/format';
import { crashpoint } from '../util/crashpoint';
import { createFresh } from '../util/safe-open';
import { writevAll } from '../util/write-all';
import type { ReplicaState } from './state';

// Receiving side of a cycle, up to (not including) the commit: every frame is checked against the
// replica's own configuration and state, written to the journal, and the trailer's digests are
// checked against what this replica's manifests will become. Nothing touches the replica files.

/** A replica file: S writes only these paths, only within maxBytes (DESIGN I4). */
export interface ReplicaTarget {
  name: string;
  path: string;
  maxBytes: number;
}

export interface ReceiveContext {
  module: string;
  blockSize: number;
  targets: ReplicaTarget[];
  state: ReplicaState;
  manifests: Map<string, ManifestFile | null>;
  journalPath: string;
  expectedStreamId?: string;
}

function fail(code: 'STREAM_INVALID' | 'STREAM_OUT_OF_RANGE' | 'STREAM_WRONG_TARGET' | 'STREAM_WRONG_GENERATION' | 'STREAM_CHECKSUM' | 'STREAM_TRUNCATED' | 'STREAM_REPLAYED' | 'MANIFEST_MISMATCH', message: string, details: Record<string, unknown> = {}): never {
  throw new ReplicationError(code, message, { details });
}

function checkHeader(ctx: ReceiveContext, h: StreamHeader): void {
  if (h.Module !== ctx.module) fail('STREAM_WRONG_TARGET', `delta stream is for module '${h.Module}', this replica is '${ctx.module}'`);
  if (ctx.expectedStreamId !== undefined && h.StreamId !== ctx.expectedStreamId) {
    fail('STREAM_REPLAYED', 'delta stream id was not issued by this replica for this cycle', { streamId: h.StreamId });
  }
  if (h.StreamId === ctx.state.LastStreamId) fail('STREAM_REPLAYED', 'delta stream was already applied', { streamId: h.StreamId });
  if (h.FromGeneration !== ctx.state.Generation) {
    fail('STREAM_WRONG_GENERATION', `delta stream starts at generation ${h.FromGeneration}, the replica holds ${ctx.state.Generation}`, {
      from: h.FromGeneration,
      replica: ctx.state.Generation,
    });
  }
  if (h.BlockSize !== ctx.blockSize) fail('STREAM_INVALID', `delta stream block size ${h.BlockSize} differs from the replica's ${ctx.blockSize}`);
  const names = h.Files.map((f) => f.Name);
  const expected = ctx.targets.map((t) => t.name);
  if (names.length !== expected.length || names.some((n, i) => n !== expected[i])) {
    fail('STREAM_WRONG_TARGET', `delta stream names files [${names.join(', ')}], the replica holds [${expected.join(', ')}]`);
  }
  h.Files.forEach((f, i) => {
    if (f.Size > ctx.targets[i].maxBytes) {
      fail('STREAM_OUT_OF_RANGE', `delta stream sets ${f.Name} to ${f.Size} bytes, above its configured maximum ${ctx.targets[i].maxBytes}`);
    }
  });
}

/** Receives one stream into the journal and returns the commit record to write (not yet written). */
export async function receiveIntoJournal(ctx: ReceiveContext, source: AsyncIterable<Uint8Array>): Promise<CommitRecord> {
  // Created fresh, never through a link planted at its name (REPLICA_UNSAFE_PATH).
  const journal = await createFresh(ctx.journalPath, 0o600);
  // Frames are gathered and written with one writev per MiB: a 64 KiB block is three pieces.
  let journalBytes = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const parts = pending;
    pending = [];
    // Complete or an error: a short write on a nearly full disk must never leave a hole.
    await writevAll(journal, parts, journalBytes - pendingBytes, ctx.journalPath);
    pendingBytes = 0;
  };
  const append = async (parts: Buffer[]): Promise<void> => {
    for (const p of parts) {
      if (p.length === 0) continue;
      pending.push(p);
      pendingBytes += p.length;
      journalBytes += p.length;
    }
    if (pendingBytes >= 1 << 20 || pending.length >= 512) await flush();
  };
  try {
    const streamHash = incrementalHash();
    let header: StreamHeader | undefined;
    let mergers: ManifestMerger[] = [];
    const counts: Array<{ blocks: number; bytes: number }> = [];
    let last = { file: -1, offset: -1 };
    let blockCount = 0;
    let record: CommitRecord | undefined;
    for await (const frame of decodeFrames(source, ctx.blockSize)) {
      // The stream is read to its end: anything after the trailer is refused, not ignored.
      if (record !== undefined) fail('STREAM_INVALID', 'delta stream has data after its trailer');
      if (frame.type === 'header') {
        if (header !== undefined) fail('STREAM_INVALID', 'delta stream has a second header');
        checkHeader(ctx, frame.header);
        header = frame.header;
        mergers = header.Files.map((f) => new ManifestMerger(ctx.manifests.get(f.Name) ?? null, ctx.blockSize, f.Size));
        header.Files.forEach(() => counts.push({ blocks: 0, bytes: 0 }));
      } else if (header === undefined) {
        fail('STREAM_INVALID', 'delta stream does not start with a header');
      } else if (frame.type === 'block') {
        const b = frame.block;
        const file = header.Files[b.fileIndex];
        if (file === undefined) fail('STREAM_WRONG_TARGET', `delta stream block names file index ${b.fileIndex}`);
        if (b.offset % ctx.blockSize !== 0 || b.offset >= file.Size || b.data.length !== Math.min(ctx.blockSize, file.Size - b.offset)) {
          fail('STREAM_OUT_OF_RANGE', `delta stream block at ${b.offset}+${b.data.length} does not fit ${file.Name} (${file.Size} bytes)`, {
            file: file.Name,
            offset: b.offset,
            length: b.data.length,
          });
        }
        if (b.fileIndex < last.file || (b.fileIndex === last.file && b.offset <= last.offset)) {
          fail('STREAM_INVALID', 'delta stream blocks are out of order');
        }
        if (!hashBlock(b.data).equals(b.hash)) {
          fail('STREAM_CHECKSUM', `delta stream block ${file.Name}@${b.offset} fails its BLAKE3 check`, { file: file.Name, offset: b.offset });
        }
        await mergers[b.fileIndex].put(b.offset / ctx.blockSize, b.hash);
        counts[b.fileIndex].blocks += 1;
        counts[b.fileIndex].bytes += b.data.length;
        last = { file: b.fileIndex, offset: b.offset };
        blockCount += 1;
        crashpoint('receive-block');
      } else {
        const t = frame.trailer;
        if (t.StreamHash !== streamHash.digestHex()) fail('STREAM_CHECKSUM', 'delta stream hash does not match its trailer');
        if (t.BlockCount !== blockCount || t.Files.length !== header.Files.length) fail('STREAM_INVALID', 'delta stream trailer counts disagree with its blocks');
        const files: CommitFile[] = [];
        for (const [i, f] of header.Files.entries()) {
          const tf = t.Files[i];
          if (tf.Index !== i || tf.Blocks !== counts[i].blocks || tf.Bytes !== counts[i].bytes) fail('STREAM_INVALID', `delta stream trailer counts for ${f.Name} disagree`);
          const digest = await mergers[i].finish();
          if (digest !== tf.ManifestDigest) {
            fail('MANIFEST_MISMATCH', `sender's view of replica ${f.Name} differs from the replica's own manifest; the sender must refresh it`, { file: f.Name });
          }
          // The size the merger started from: the manifest's (what apply will cut the file to first).
          const fromSize = ctx.manifests.get(f.Name)?.fileSize ?? 0;
          files.push({ Name: f.Name, FromSize: fromSize, ToSize: f.Size, Blocks: tf.Blocks, Bytes: tf.Bytes, ManifestDigest: digest, ContentDigest: tf.ContentDigest, DataWriteGuid: f.DataWriteGuid ?? null });
        }
        await append(frame.raw);
        await flush();
        await journal.sync().catch((e: unknown) => {
          throw fromNodeError(e, ctx.journalPath);
        });
        record = {
          Version: 1,
          Module: header.Module,
          StreamId: header.StreamId,
          FromGeneration: header.FromGeneration,
          ToGeneration: header.ToGeneration,
          BlockSize: header.BlockSize,
          TakenAt: header.TakenAt,
          JournalBytes: journalBytes,
          StreamHash: t.StreamHash,
          Files: files,
        };
        continue;
      }
      await append(frame.raw);
      for (const p of frame.raw) streamHash.update(p);
    }
    if (record !== undefined) return record;
    return fail('STREAM_TRUNCATED', header === undefined ? 'delta stream is empty' : 'delta stream ended before its trailer');
  } finally {
    await journal.close();
  }
}
