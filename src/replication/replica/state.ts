import { z } from 'zod';
import { writeFileDurable } from '../util/durable-file';
import { readOwnJson } from '../util/json-file';

// What a replica holds: its generation and, per file, size and digests. Written atomically after
// a generation is fully applied, so it never names a generation the files do not hold.

export const ReplicaFileState = z
  .object({
    Name: z.string().min(1),
    Size: z.number().int().min(0),
    ManifestDigest: z.string(),
    ContentDigest: z.string().nullable(),
    DataWriteGuid: z.string().nullable(),
  })
  .strict();
export type ReplicaFileState = z.infer<typeof ReplicaFileState>;

export const ReplicaState = z
  .object({
    Version: z.literal(1),
    Module: z.string().min(1),
    Generation: z.number().int().min(0),
    BlockSize: z.number().int().positive(),
    TakenAt: z.string().datetime().nullable(),
    AppliedAt: z.string().datetime().nullable(),
    LastStreamId: z.string().nullable(),
    Files: z.array(ReplicaFileState),
  })
  .strict();
export type ReplicaState = z.infer<typeof ReplicaState>;

/** The state of a replica that has never received a generation. */
export function initialState(module: string, blockSize: number): ReplicaState {
  return { Version: 1, Module: module, Generation: 0, BlockSize: blockSize, TakenAt: null, AppliedAt: null, LastStreamId: null, Files: [] };
}

/** Reads state.json; null when absent; REPLICA_INVALID when damaged. */
export async function readState(path: string): Promise<ReplicaState | null> {
  return readOwnJson(path, ReplicaState, 'replica state');
}

/** Writes state.json atomically. */
export async function writeState(path: string, state: ReplicaState): Promise<void> {
  await writeFileDurable(path, `${JSON.stringify(ReplicaState.parse(state), null, 2)}\n`);
}
