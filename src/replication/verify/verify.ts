import { stat } from 'node:fs/promises';
import { ReplicationError, fromNodeError } from '../../errors';
import { HASH_BYTES } from '../hash';
import type { BlockRun } from '../source/file-layout';
import { HashPool, fileIdentity } from '../source/hash-pool';
import { openLayout, type SourceMode } from '../source/open-layout';

// Ground truth: hash both sides block by block (nothing trusted from manifests) and report where
// they differ. VHDX files are compared over their live regions (headers, log, BAT, metadata,
// allocated blocks); raw mode compares every byte.

export interface VerifyPair {
  name: string;
  source: string;
  replica: string;
}

export interface FileVerdict {
  name: string;
  mode: 'vhdx' | 'raw';
  sourceSize: number;
  replicaSize: number | null;
  bytesCompared: number;
  equal: boolean;
  /** Differing byte ranges of the file (merged), at most `maxRanges`. */
  differingRanges: Array<{ offset: number; length: number }>;
  differingBytes: number;
  reason: 'equal' | 'missing' | 'size' | 'content';
}

export interface VerifyReport {
  equal: boolean;
  files: FileVerdict[];
  durationMs: number;
}

const CHUNK_BLOCKS = 64;

/** Compares each source with its replica. */
export async function verifyFiles(pairs: VerifyPair[], options: { blockSize: number; mode?: SourceMode; maxRanges?: number; pool?: HashPool }): Promise<VerifyReport> {
  const started = Date.now();
  const pool = options.pool ?? new HashPool();
  try {
    const files: FileVerdict[] = [];
    for (const p of pairs) files.push(await verifyOne(pool, p, options.blockSize, options.mode ?? 'auto', options.maxRanges ?? 1000));
    return { equal: files.every((f) => f.equal), files, durationMs: Date.now() - started };
  } finally {
    if (options.pool === undefined) await pool.close();
  }
}

async function verifyOne(pool: HashPool, p: VerifyPair, B: number, mode: SourceMode, maxRanges: number): Promise<FileVerdict> {
  const layout = await openLayout(p.source, mode);
  try {
    const verdict: FileVerdict = { name: p.name, mode: layout.mode, sourceSize: layout.size, replicaSize: null, bytesCompared: 0, equal: false, differingRanges: [], differingBytes: 0, reason: 'missing' };
    const rst = await stat(p.replica, { bigint: true }).catch((e: unknown) => {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw fromNodeError(e, p.replica);
    });
    if (rst === null) return verdict;
    verdict.replicaSize = Number(rst.size);
    if (verdict.replicaSize !== layout.size) return { ...verdict, reason: 'size' };
    // The replica is compared as this file: a kept descriptor of one it replaced is never read.
    const replicaFile = fileIdentity(rst);
    const add = (offset: number, length: number): void => {
      verdict.differingBytes += length;
      const last = verdict.differingRanges[verdict.differingRanges.length - 1];
      if (last !== undefined && last.offset + last.length === offset) last.length += length;
      else if (verdict.differingRanges.length < maxRanges) verdict.differingRanges.push({ offset, length });
    };
    const runs: BlockRun[] = layout.referencedRuns(B);
    const last = Math.ceil(layout.size / B);
    for (const [s, e] of runs) {
      for (let start = s; start < Math.min(e, last); start += CHUNK_BLOCKS) {
        const end = Math.min(start + CHUNK_BLOCKS, e, last);
        const offset = start * B;
        const length = Math.min(end * B, layout.size) - offset;
        const [a, b] = await Promise.all([
          pool.hash({ path: p.source, file: layout.identity, offset, length, blockSize: B, old: null, wantData: false }),
          pool.hash({ path: p.replica, file: replicaFile, offset, length, blockSize: B, old: null, wantData: false }),
        ]);
        for (let j = 0; j < end - start; j++) {
          if (!a.hashes.subarray(j * HASH_BYTES, (j + 1) * HASH_BYTES).equals(b.hashes.subarray(j * HASH_BYTES, (j + 1) * HASH_BYTES))) {
            add(offset + j * B, Math.min(B, layout.size - (offset + j * B)));
          }
        }
        verdict.bytesCompared += length;
      }
    }
    // A source that moved while it was hashed makes the comparison meaningless, either way.
    const changes = await layout.changesSinceOpen();
    if (changes.length > 0) {
      throw new ReplicationError('SOURCE_CHANGED', `${p.name} changed while verify read it (${changes.join('; ')}): no verdict. Stop the VM first, or verify the agent's replica while the module is idle.`, {
        details: { name: p.name, changes },
      });
    }
    verdict.equal = verdict.differingBytes === 0;
    verdict.reason = verdict.equal ? 'equal' : 'content';
    return verdict;
  } finally {
    await layout.close();
  }
}
