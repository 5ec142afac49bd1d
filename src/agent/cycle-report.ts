// What one replication cycle did, kept per module for status and returned by `vmmirror sync`.

export type ChangeDetection = 'ChangedRanges' | 'Scan';

export interface CycleReport {
  module: string;
  /** The ownership epoch the cycle ran under (sent in cycle.begin, echoed by the receiver). */
  epoch: number;
  startedAt: Date;
  finishedAt: Date;
  durationMs: number;
  fromGeneration: number;
  toGeneration: number;
  detection: ChangeDetection;
  /** How consistent the frozen view was: Application (the guest quiesced) or Crash. */
  consistency: 'Application' | 'Crash';
  /** Why change tracking was not used (null when it was). */
  scanReason: string | null;
  bytesScanned: number;
  /** Payload bytes of changed blocks. */
  bytesChanged: number;
  blocksChanged: number;
  /** Bytes of the delta stream (before link compression). */
  streamBytes: number;
  /** Bytes the link carried for the stream (after compression). */
  wireBytes: number;
  /** Manifest bytes fetched from the secondary to refresh P's cache. */
  manifestBytes: number;
  compression: 'none' | 'deflate' | 'brotli';
  /** Bytes the guest wrote since the previous generation, as changed ranges said (null: unknown). */
  changedRangeBytes: number | null;
  takenAt: Date;
  files: Array<{ name: string; size: number; blocksChanged: number; bytesChanged: number; manifestDigest: string }>;
}
