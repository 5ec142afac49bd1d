import { Readable } from 'node:stream';
import { ReplicationError, hasCode } from '../../errors';
import { HASH_BYTES, incrementalHash } from '../hash';
import type { ManifestFile } from '../manifest/manifest-file';
import { ManifestMerger } from '../manifest/manifest-merge';
import { blockPrefix, FORMAT_VERSION, jsonFrame, type StreamHeader, type StreamTrailer } from '../stream/format';
import { crashpoint } from '../util/crashpoint';
import { BlockSet } from './block-set';
import type { BlockRun, FileLayout } from './file-layout';
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
      const chunks = chunkRuns(runs, B, layout.size);
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
          const result = pool.hash({ path: src.path, offset: extents[0][0], length, extents, blockSize: B, old: Buffer.from(oldEntries.buffer, oldEntries.byteOffset, oldEntries.byteLength), wantData: true });
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

/** Changed ranges of one source: an array (from the hypervisor) or a stream (a big --changed-ranges file). */
export type ChangedRangeSource = Iterable<{ offset: number; length: number }> | AsyncIterable<{ offset: number; length: number }>;

/** Ranges are mapped to file extents this many at a time: memory does not grow with their number. */
const RANGE_BATCH = 1 << 16;

// Scan mode: every live block. Change-tracking mode: the blocks the changes map to, the VHDX
// structures that always travel, and the tail blocks a size change makes unknown on the replica,
// gathered in a bitset (one bit per block) rather than arrays, since there may be millions of ranges.
async function candidateRuns(layout: FileLayout, B: number, merger: ManifestMerger, changed: ChangedRangeSource | undefined): Promise<Iterable<BlockRun>> {
  if (changed === undefined) return layout.referencedRuns(B);
  const set = new BlockSet(Math.ceil(layout.size / B));
  let batch: Array<{ offset: number; length: number }> = [];
  const flush = async (): Promise<void> => {
    for (const e of await layout.mapChanges(batch)) set.addExtent(e.offset, e.length, B);
    batch = [];
  };
  for await (const r of changed) {
    if (!Number.isSafeInteger(r.offset) || !Number.isSafeInteger(r.length) || r.offset < 0 || r.length < 0) {
      throw new ReplicationError('RANGE_INVALID', `changed range ${r.offset}+${r.length} is not a valid byte range`);
    }
    batch.push({ offset: r.offset, length: r.length });
    if (batch.length >= RANGE_BATCH) await flush();
  }
  await flush();
  for (const [s, e] of layout.structuralRuns(B)) set.addRun(s, e);
  for (let i = merger.keep; i < merger.newCount; i++) if (layout.isReferenced(i, B)) set.addRun(i, i + 1);
  return set.runs();
}

interface Chunk {
  /** Block runs [start, end) read back to back as one chunk, ascending. */
  runs: BlockRun[];
}

// Groups block runs into chunks of at most CHUNK_BYTES (lazily), never past the end of the file.
// Long runs are split; short ones (change tracking: scattered blocks) share a chunk, so each
// worker message carries many blocks.
function* chunkRuns(runs: Iterable<BlockRun>, B: number, size: number): Generator<Chunk, void> {
  const per = Math.max(1, Math.floor(CHUNK_BYTES / B));
  const last = Math.ceil(size / B);
  let current: BlockRun[] = [];
  let blocks = 0;
  for (const [s, e] of runs) {
    for (let start = s; start < Math.min(e, last); ) {
      const end = Math.min(start + (per - blocks), e, last);
      current.push([start, end]);
      blocks += end - start;
      start = end;
      if (blocks === per) {
        yield { runs: current };
        current = [];
        blocks = 0;
      }
    }
  }
  if (current.length > 0) yield { runs: current };
}
