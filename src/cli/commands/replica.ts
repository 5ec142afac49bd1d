import { join, resolve } from 'node:path';
import { z } from 'zod';
import { UsageError } from '../../errors';
import { LOCAL_MODULE, STATE_FOLDER } from '../../replication';
import { localReplicaFiles, resetReplica } from '../../replication/replica/reset';
import { BlockSize } from '../../replication/stream/format';
import type { CommandOutcome } from '../command';
import { emit } from '../output';
import { parseBytes } from '../parse';

export const ReplicaResetOutput = z
  .object({
    Replica: z.string(),
    BlockSize: z.number().int(),
    DurationMs: z.number().int(),
    /** What was discarded, relative to the state folder (<dir>/.vmmirror). */
    Discarded: z.array(z.string()),
    /** Replica files whose manifests were rebuilt from their content. */
    Rehashed: z.array(z.object({ Name: z.string(), Size: z.number().int() })),
    /** Entries of the folder left alone: links and anything that is not a plain file. */
    Skipped: z.array(z.object({ Name: z.string(), Reason: z.enum(['symlink', 'hardlink', 'not-a-file']) })),
  })
  .strict();
export type ReplicaResetOutput = z.infer<typeof ReplicaResetOutput>;

export interface ReplicaResetOptions {
  blockSize?: string;
}

// vmmirror replica reset <dir>: the way out when a replica folder's own state is damaged
// (REPLICA_INVALID): discard it and rehash the replica files, which are kept (docs/replication.md).
// definitions/replica.ts declares the command; this runs it.
export async function runReplicaReset(dir: string, opts: ReplicaResetOptions): Promise<CommandOutcome> {
  const started = Date.now();
  const blockSize = opts.blockSize === undefined ? undefined : parseBytes('--block-size', opts.blockSize);
  if (blockSize !== undefined && !BlockSize.safeParse(blockSize).success) {
    throw new UsageError(`--block-size must be a power of two between 4K and 16M, got ${opts.blockSize}`);
  }
  const { files, skipped } = await localReplicaFiles(dir, STATE_FOLDER);
  const r = await resetReplica({
    stateDir: join(dir, STATE_FOLDER),
    module: LOCAL_MODULE,
    targets: files.map((name) => ({ name, path: join(dir, name), maxBytes: Number.MAX_SAFE_INTEGER })),
    blockSize,
  });
  const json = emit(ReplicaResetOutput, {
    Replica: resolve(dir),
    BlockSize: r.blockSize,
    DurationMs: Date.now() - started,
    Discarded: r.discarded,
    Rehashed: r.files.map((f) => ({ Name: f.name, Size: f.size })),
    Skipped: skipped.map((s) => ({ Name: s.name, Reason: s.reason })),
  });
  const text = [
    `reset ${json.Replica}: discarded ${json.Discarded.length === 0 ? 'nothing' : json.Discarded.join(', ')}; rehashed ${json.Rehashed.length} file(s) in ${json.BlockSize}-byte blocks`,
    ...json.Rehashed.map((f) => `  ${f.Name}: ${f.Size} bytes`),
    ...json.Skipped.map((s) => `  skipped ${s.Name} (${s.Reason})`),
    'the next replicate sends only what differs',
  ].join('\n');
  return { json, text };
}
