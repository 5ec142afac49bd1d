import { z } from 'zod';
import { writeFileDurable } from '../util/durable-file';
import { readOwnJson } from '../util/json-file';

// The commit record makes a fully received and verified journal "committed" in one atomic step.
// Present: the journal must be applied (again, if a crash interrupted it). Absent: discard it.

export const CommitFile = z
  .object({
    Name: z.string().min(1),
    FromSize: z.number().int().min(0),
    ToSize: z.number().int().min(0),
    Blocks: z.number().int().min(0),
    Bytes: z.number().int().min(0),
    ManifestDigest: z.string(),
    ContentDigest: z.string(),
    DataWriteGuid: z.string().nullable(),
  })
  .strict();
export type CommitFile = z.infer<typeof CommitFile>;

export const CommitRecord = z
  .object({
    Version: z.literal(1),
    Module: z.string(),
    StreamId: z.string(),
    FromGeneration: z.number().int().min(0),
    ToGeneration: z.number().int().min(1),
    BlockSize: z.number().int().positive(),
    TakenAt: z.string(),
    JournalBytes: z.number().int().min(0),
    StreamHash: z.string(),
    Files: z.array(CommitFile),
  })
  .strict();
export type CommitRecord = z.infer<typeof CommitRecord>;

/** Reads the commit record; null when absent. A damaged one is REPLICA_INVALID (never guessed at). */
export async function readCommitRecord(path: string): Promise<CommitRecord | null> {
  return readOwnJson(path, CommitRecord, 'commit record');
}

/** Writes the commit record durably (temp + fsync + rename + folder fsync). */
export async function writeCommitRecord(path: string, record: CommitRecord): Promise<void> {
  await writeFileDurable(path, JSON.stringify(CommitRecord.parse(record)));
}
