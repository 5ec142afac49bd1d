import { resolve } from 'node:path';
import { z } from 'zod';
import { UsageError } from '../../errors';
import { BlockSize } from '../../replication/stream/format';
import { replicateLocal, type ReplicateReport } from '../../replication';
import type { CommandOutcome } from '../command';
import { emit } from '../output';
import { parseBytes, parseChoice } from '../parse';
import { changedRangesOf, changedRangesPaths, type ChangedRange } from '../../replication/source/changed-ranges-file';

export const ReplicateOutput = z
  .object({
    Generation: z.number().int(),
    BlockSize: z.number().int(),
    BytesScanned: z.number().int(),
    BytesSent: z.number().int(),
    BlocksChanged: z.number().int(),
    DurationMs: z.number().int(),
    Recovery: z.enum(['none', 'discarded-journal', 'reapplied-journal']),
    Rehashed: z.array(z.string()),
    Files: z.array(
      z.object({
        Name: z.string(),
        Source: z.string(),
        Replica: z.string(),
        Mode: z.enum(['vhdx', 'raw']),
        Size: z.number().int(),
        BytesScanned: z.number().int(),
        BlocksChanged: z.number().int(),
        BytesChanged: z.number().int(),
        ManifestDigest: z.string(),
        ContentDigest: z.string(),
      }),
    ),
  })
  .strict();
export type ReplicateOutput = z.infer<typeof ReplicateOutput>;

function toOutput(r: ReplicateReport, sources: string[], toDir: string): ReplicateOutput {
  return emit(ReplicateOutput, {
    Generation: r.generation,
    BlockSize: r.blockSize,
    BytesScanned: r.bytesScanned,
    BytesSent: r.bytesSent,
    BlocksChanged: r.blocksChanged,
    DurationMs: r.durationMs,
    Recovery: r.recovery.action,
    Rehashed: r.rehashed,
    Files: r.files.map((f, i) => ({
      Name: f.name,
      Source: resolve(sources[i]),
      Replica: resolve(toDir, f.name),
      Mode: f.mode,
      Size: f.size,
      BytesScanned: f.bytesScanned,
      BlocksChanged: f.blocksChanged,
      BytesChanged: f.bytesChanged,
      ManifestDigest: f.manifestDigest,
      ContentDigest: f.contentDigest,
    })),
  });
}

// The --changed-ranges file is read as a stream (it may list millions of ranges): validated once
// here, then each source's ranges are read again lazily while its blocks are chosen.
async function changedRangesBySource(file: string, sources: string[]): Promise<Map<string, AsyncIterable<ChangedRange>>> {
  const entries = new Map(sources.map((s) => [s, new Set<number>()]));
  for (const [i, path] of (await changedRangesPaths(file)).entries()) {
    const key = sources.find((s) => resolve(s) === resolve(path));
    if (key === undefined) throw new UsageError(`--changed-ranges names ${path}, which is not a source`);
    entries.get(key)?.add(i);
  }
  return new Map(sources.map((s) => [s, changedRangesOf(file, entries.get(s) ?? new Set())]));
}

export interface ReplicateOptions {
  to: string;
  blockSize?: string;
  mode: string;
  changedRanges?: string;
  rehash?: boolean;
}

// vmmirror replicate <source...> --to <dir>: seed or update a local replica folder
// (definitions/replicate.ts declares the command; this runs it).
export async function runReplicate(sources: string[], opts: ReplicateOptions): Promise<CommandOutcome> {
  const blockSize = opts.blockSize === undefined ? undefined : parseBytes('--block-size', opts.blockSize);
  if (blockSize !== undefined && !BlockSize.safeParse(blockSize).success) {
    throw new UsageError(`--block-size must be a power of two between 4K and 16M, got ${opts.blockSize}`);
  }
  const mode = parseChoice('--mode', opts.mode, ['auto', 'vhdx', 'raw'] as const);
  const changedRanges = opts.changedRanges === undefined ? undefined : await changedRangesBySource(opts.changedRanges, sources);
  const report = await replicateLocal({ sources, toDir: opts.to, blockSize, mode, changedRanges, rehash: opts.rehash === true });
  const json = toOutput(report, sources, opts.to);
  const text = [
    ...(json.Rehashed.length > 0 ? [`rebuilt the manifests of ${json.Rehashed.join(', ')} from the replica (it had been written to)`] : []),
    `generation ${json.Generation}: sent ${json.BytesSent} bytes (${json.BlocksChanged} blocks changed) after scanning ${json.BytesScanned} bytes in ${json.DurationMs} ms`,
    ...json.Files.map((f) => `  ${f.Name}: ${f.Mode}, ${f.Size} bytes, ${f.BlocksChanged} blocks changed, content ${f.ContentDigest.slice(0, 16)}`),
  ].join('\n');
  return { json, text };
}
