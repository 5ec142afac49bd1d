import { Readable } from 'node:stream';
import { ReplicationError, hasCode } from '../../errors';
import { HASH_BYTES, incrementalHash } from '../hash';
import type { ManifestFile } from '../manifest/manifest-file';
import { ManifestMerger } from '../manifest/manifest-merge';
import { blockPrefix, FORMAT_VERSION, jsonFrame, type StreamHeader, type StreamTrailer } from '../stream/format';
import { crashpoint } from '../util/crashpoint';
import { candidateRuns, chunkRuns, type ChangedRangeSource } from './candidates';
import type { FileLayout } from './file-layout';

export type { ChangedRangeSource } from './candidates';
import { HashPool } from './hash-pool';
import { SentLogWriter } from './sent-log';
import { openLayout, type SourceMode } from './open-layout';

// The sending side (P) of a cycle: compares the frozen source files with what the replica holds
// (S's manifest, or P's reconciled copy of it) and produces the delta stream, block by block, with
// back-pressure (the stream is pulled; only a few chunks are ever in flight).

export interface DeltaSource {
  name: string;
  path: string;
  mode: SourceMode;
}

export interface CreateDeltaOptions {
  module: string;
  /** Nonce chosen by the receiver for this cycle. */
  streamId: string;
  blockSize: number;
  sources: DeltaSource[];
  /** What the replica holds: its generation and its manifest per file (null: nothing known). */
  replica: { generation: number; manifests: Map<string, ManifestFile | null> };
  /** Change-tracking mode: per source name, the ranges written since the replica's generation. */
  changedRanges?: Map<string, ChangedRangeSource>;
  /** When the source was frozen (the generation's point in time). */
  takenAt?: Date;
  pool?: HashPool;
  /** Records every sent block here (SenderCache.sentLogPath), to advance P's copy after the ack. */
  sentLog?: string;
}

export interface DeltaFileReport {
  name: string;
  mode: 'vhdx' | 'raw';
  size: number;
  bytesScanned: number;
  blocksChanged: number;
  bytesChanged: number;
  manifestDigest: string;
  contentDigest: string;
}

export interface DeltaReport {
  generation: number;
  bytesScanned: number;
  bytesSent: number;
  blocksChanged: number;
  durationMs: number;
  files: DeltaFileReport[];
}

const CHUNK_BYTES = 4 << 20;

/** Builds the delta stream; `report` settles when the stream has been fully produced. */
export async function createDelta(o: CreateDeltaOptions): Promise<{ stream: Readable; report: Promise<DeltaReport> }> {
  const layouts: FileLayout[] = [];
  try {
    for (const s of o.sources) layouts.push(await openLayout(s.path, s.mode));
  } catch (err) {
    for (const l of layouts) await l.close();
    throw err;
  }
  let settle!: { resolve: (r: DeltaReport) => void; reject: (e: unknown) => void };
  const report = new Promise<DeltaReport>((resolve, reject) => {
    settle = { resolve, reject };
  });
  report.catch(() => undefined); // the stream's consumer sees the error; the report may be ignored
  const gen = produce(o, layouts);
  const stream = Readable.from(
    (async function* () {
      let settled = false;
      try {
        const r = yield* gen;
        settled = true;
        settle.resolve(r);
      } catch (err) {
        settled = true;
        settle.reject(err);
        throw err;
      } finally {
        // Destroyed without an error (a consumer that gave up): the report must not hang.
        if (!settled) settle.reject(new ReplicationError('CANCELLED', 'delta stream was closed before it was complete'));
        for (const l of layouts) await l.close().catch(() => undefined);
      }
    })(),
    { objectMode: false, highWaterMark: 1 << 20 },
  );
  return { stream, report };
}

async function* produce(o: CreateDeltaOptions, layouts: FileLayout[]): AsyncGenerator<Buffer, DeltaReport> {
  const started = Date.now();
  const B = o.blockSize;
  const pool = o.pool ?? new HashPool();
  const streamHash = incrementalHash();
  const sentLog = o.sentLog === undefined ? null : await SentLogWriter.create(o.sentLog);
  let sent = 0;
  const emit = (b: Buffer): Buffer => {
    streamHash.update(b);
    sent += b.length;
    return b;
  };
  try {
    const header: StreamHeader = {
      Format: 'vmmirror-delta',
      Version: FORMAT_VERSION,
      Module: o.module,
      StreamId: o.streamId,
      FromGeneration: o.replica.generation,
      ToGeneration: o.replica.generation + 1,
      BlockSize: B,
      CreatedAt: new Date().toISOString(),
      TakenAt: (o.takenAt ?? new Date()).toISOString(),
      Files: o.sources.map((s, i) => ({ Index: i, Name: s.name, Size: layouts[i].size, Mode: layouts[i].mode, ...(layouts[i].dataWriteGuid ? { DataWriteGuid: layouts[i].dataWriteGuid as string } : {}) })),
    };
    yield emit(jsonFrame('header', header));
    const files: DeltaFileReport[] = [];
    for (const [fi, src] of o.sources.entries()) {
      const layout = layouts[fi];
      const old = o.replica.manifests.get(src.name) ?? null;
      const merger = new ManifestMerger(old, B, layout.size, (i) => layout.isReferenced(i, B));
      const stats: DeltaFileReport = { name: src.name, mode: layout.mode, size: layout.size, bytesScanned: 0, blocksChanged: 0, bytesChanged: 0, manifestDigest: '', contentDigest: '' };
      const runs = await candidateRuns(layout, B, merger, o.changedRanges?.get(src.name));
      const inFlight: Array<{ indices: number[]; length: number; result: ReturnType<HashPool['hash']> }> = [];
      const chunks = chunkRuns(runs, B, layout.size, CHUNK_BYTES);
      let next = chunks.next();
      const launch = async (): Promise<void> => {
        while (next.done !== true && inFlight.length < pool.size * 2) {
          const c = next.value;
          // What S holds for these blocks once the resize is applied (a block past a grown end is zeros).
          const parts = await Promise.all(c.runs.map(([s, e]) => merger.baseEntries(s, e - s)));
          const oldEntries = parts.length === 1 ? parts[0] : Buffer.concat(parts);
          const extents = c.runs.map(([s, e]): [number, number] => [s * B, Math.min(e * B, layout.size) - s * B]);
          const length = extents.reduce((n, x) => n + x[1], 0);
          const indices = c.runs.flatMap(([s, e]) => Array.from({ length: e - s }, (_, i) => s + i));
          const result = pool.hash({ path: src.path, file: layout.identity, offset: extents[0][0], length, extents, blockSize: B, old: Buffer.from(oldEntries.buffer, oldEntries.byteOffset, oldEntries.byteLength), wantData: true });
          // A chunk may fail before it is awaited (an earlier one is still being read); its error
          // surfaces when its turn comes, never as an unhandled rejection that kills the process.
          result.catch(() => undefined);
          inFlight.push({ indices, length, result });
          next = chunks.next();
        }
      };
      await launch();
      while (inFlight.length > 0) {
        const chunk = inFlight.shift() as (typeof inFlight)[number];
        const r = await chunk.result.catch((err: unknown) => {
          if (hasCode(err, 'SOURCE_CHANGED')) throw sourceChanged(src.name, [(err as Error).message.replace(/^scan: /, '')], o.replica.generation);
          throw err;
        });
        await launch();
        stats.bytesScanned += chunk.length;
        for (const [k, j] of r.changed.entries()) {
          const index = chunk.indices[j];
          const hash = r.hashes.subarray(j * HASH_BYTES, (j + 1) * HASH_BYTES);
          const at = r.compact === true ? k * B : j * B;
          const data = (r.data as Buffer).subarray(at, at + Math.min(B, layout.size - index * B));
          await merger.put(index, hash);
          await sentLog?.add(fi, index, hash);
          stats.blocksChanged += 1;
          stats.bytesChanged += data.length;
          yield emit(blockPrefix({ fileIndex: fi, offset: index * B, hash, length: data.length }));
          yield emit(data);
          crashpoint('send-block');
        }
      }
      stats.manifestDigest = await merger.finish();
      stats.contentDigest = merger.contentDigest();
      files.push(stats);
    }
    // Still the files we started with? If not, what was sent is a torn mixture: fail before the
    // trailer, so the receiver never commits it (its replica stays on the generation it had).
    for (const [fi, layout] of layouts.entries()) await refuseIfChanged(o.sources[fi]!.name, layout, o.replica.generation);
    const trailer: StreamTrailer = {
      BlockCount: files.reduce((n, f) => n + f.blocksChanged, 0),
      StreamHash: streamHash.digestHex(),
      Files: files.map((f, i) => ({ Index: i, Blocks: f.blocksChanged, Bytes: f.bytesChanged, ManifestDigest: f.manifestDigest, ContentDigest: f.contentDigest })),
    };
    yield emit(jsonFrame('trailer', trailer));
    return {
      generation: o.replica.generation + 1,
      bytesScanned: files.reduce((n, f) => n + f.bytesScanned, 0),
      bytesSent: sent,
      blocksChanged: trailer.BlockCount,
      durationMs: Date.now() - started,
      files,
    };
  } finally {
    await sentLog?.close();
    if (o.pool === undefined) await pool.close();
  }
}

async function refuseIfChanged(name: string, layout: FileLayout, generation: number): Promise<void> {
  const changes = await layout.changesSinceOpen();
  if (changes.length > 0) throw sourceChanged(name, changes, generation);
}

function sourceChanged(name: string, changes: string[], generation: number): ReplicationError {
  return new ReplicationError(
    'SOURCE_CHANGED',
    `${name} changed while it was being read (${changes.join('; ')}): nothing was committed, the replica stays on generation ${generation}. ` +
      'A running VM\'s disk cannot be copied consistently this way: stop the VM first, or replicate it through the agent (it reads a frozen checkpoint).',
    { details: { name, changes, generation } },
  );
}
