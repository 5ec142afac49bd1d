import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ErrorCodes, ReplicationError, fromNodeError, type ErrorCode } from '../../errors';
import { WORKER_SOURCE } from './hash-worker';

// A fixed-size set of hashing worker threads (the worker itself: hash-worker.ts). Requests are
// spread round-robin. A worker that dies (crash, out of memory, terminated) takes its in-flight
// requests with it: they are rejected with a coded error, and the worker is replaced, so a scan
// never hangs on a request nobody will answer. A replacement that dies before answering anything
// means the threads cannot run here at all: the pool then fails every request instead of looping.

export interface HashRequest {
  path: string;
  offset: number;
  /** Total bytes of the chunk (the sum of `extents` when given). */
  length: number;
  /** Several [offset, length] extents read back to back as one chunk (all but the last whole blocks). */
  extents?: Array<[number, number]>;
  blockSize: number;
  /** Manifest entries to compare with (32 bytes per block), or null to only hash. */
  old: Buffer | null;
  /** Return the chunk's bytes when a block differs. */
  wantData: boolean;
  /**
   * The file `path` must name, as `${dev}:${ino}` (fileIdentity): bytes are never read from another
   * one (a path re-pointed or replaced since it was opened is SOURCE_CHANGED).
   */
  file?: string;
}

/** The identity a HashRequest's `file` names, from a bigint stat of the file. */
export function fileIdentity(st: { dev: bigint; ino: bigint }): string {
  return `${st.dev}:${st.ino}`;
}

export interface HashResult {
  /** 32 bytes per block of the chunk. */
  hashes: Buffer;
  /** Indexes (within the chunk) of blocks whose hash differs from `old`. */
  changed: number[];
  /**
   * When requested and something changed: the chunk's bytes (`compact: false`, block j at j * blockSize),
   * or only the changed blocks back to back (`compact: true`, the k-th changed block at k * blockSize).
   */
  data?: Buffer;
  compact?: boolean;
}

interface Pending {
  resolve: (r: HashResult) => void;
  reject: (e: Error) => void;
  slot: Slot;
}

interface Slot {
  worker: Worker;
  inFlight: Set<number>;
  /** Whether this worker ever answered (a replacement that dies before that stops the respawning). */
  answered: boolean;
  replacement: boolean;
  /** The error event that preceded the exit, if any (its code is kept). */
  lastError?: Error;
}

interface WorkerReply {
  id: number;
  error?: string;
  code?: string;
  hashes: Uint8Array;
  changed: number[];
  data?: Uint8Array;
  compact?: boolean;
}

/** Error codes vmmirror knows: a worker error carrying one keeps it. */
function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ErrorCodes, code);
}

/** Maps a worker's error (message + code) to a typed error that keeps the code. */
export function workerError(message: string, code: unknown, cause?: unknown): Error {
  if (isErrorCode(code)) return new ReplicationError(code, `scan: ${message}`, { cause });
  if (typeof code === 'string') {
    // An errno (ENOENT, EACCES, EIO, ENOSPC ...): the same mapping as the main thread's file errors.
    const mapped = fromNodeError(Object.assign(new Error(message), { code }), 'scan');
    if (mapped instanceof ReplicationError) return mapped;
  }
  return new ReplicationError('IO_ERROR', `scan: ${message}`, { cause });
}

export class HashPool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly blakePath = require.resolve('@napi-rs/blake-hash');
  private nextId = 0;
  private turn = 0;
  private closing = false;
  private broken: Error | null = null;

  constructor(size = Math.max(1, Math.min(availableParallelism(), 8))) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn(false));
  }

  get size(): number {
    return this.slots.length;
  }

  /** The worker threads now serving the pool (diagnostics and tests: a test kills one). */
  get threads(): readonly Worker[] {
    return this.slots.map((s) => s.worker);
  }

  /** Reads and hashes one chunk of a file. */
  hash(req: HashRequest): Promise<HashResult> {
    if (this.broken !== null) return Promise.reject(this.broken);
    if (this.closing) return Promise.reject(new ReplicationError('CANCELLED', 'scan: the hash pool is closed'));
    const id = this.nextId++;
    const slot = this.slots[this.turn++ % this.slots.length];
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, slot });
      slot.inFlight.add(id);
      slot.worker.postMessage({ id, ...req });
    });
  }

  /** Stops the workers; requests still in flight are rejected with CANCELLED. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.rejectAll(new ReplicationError('CANCELLED', 'scan: the hash pool was closed with requests in flight'));
  }

  private spawn(replacement: boolean): Slot {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { blakePath: this.blakePath } });
    const slot: Slot = { worker, inFlight: new Set(), answered: false, replacement };
    worker.on('message', (m: WorkerReply) => this.settle(slot, m));
    worker.on('error', (err) => {
      slot.lastError = err;
    });
    worker.on('exit', (exitCode) => this.onExit(slot, exitCode));
    return slot;
  }

  private onExit(slot: Slot, exitCode: number): void {
    if (this.closing) return;
    const why = slot.lastError?.message ?? `exited with code ${exitCode}`;
    const code = (slot.lastError as { code?: unknown } | undefined)?.code;
    // A vmmirror code from the worker stays; anything else (a crash) is INTERNAL: not the disk's fault.
    const err = isErrorCode(code)
      ? new ReplicationError(code, `scan worker died: ${why}`, { cause: slot.lastError })
      : new ReplicationError('INTERNAL', `scan worker died: ${why}`, { cause: slot.lastError, details: { exitCode, ...(typeof code === 'string' ? { errno: code } : {}) } });
    for (const id of slot.inFlight) this.rejectOne(id, err);
    const at = this.slots.indexOf(slot);
    if (slot.replacement && !slot.answered) {
      // Even a fresh worker cannot run: fail cleanly rather than respawn forever.
      this.broken = new ReplicationError(err.code, `scan workers keep dying (${why}); giving up`, { cause: err });
      this.rejectAll(this.broken);
      return;
    }
    if (at >= 0) this.slots[at] = this.spawn(true);
  }

  private settle(slot: Slot, m: WorkerReply): void {
    slot.answered = true;
    slot.inFlight.delete(m.id);
    const p = this.pending.get(m.id);
    if (p === undefined) return;
    this.pending.delete(m.id);
    if (m.error !== undefined) {
      p.reject(workerError(m.error, m.code));
      return;
    }
    const toBuf = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
    p.resolve({ hashes: toBuf(m.hashes), changed: m.changed, ...(m.data ? { data: toBuf(m.data), compact: m.compact === true } : {}) });
  }

  private rejectOne(id: number, err: Error): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    p.slot.inFlight.delete(id);
    p.reject(err);
  }

  private rejectAll(err: Error): void {
    for (const id of [...this.pending.keys()]) this.rejectOne(id, err);
  }
}
