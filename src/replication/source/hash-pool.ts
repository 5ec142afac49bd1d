import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ReplicationError } from '../../errors';

// allocUnsafeSlow: transferred buffers must own their memory (never Node's shared small-buffer pool).
// Worker threads that read and hash runs of blocks, so a scan uses every core. A worker compares
// each block's hash with the manifest entry it was given and hands back the chunk buffer only when
// some block differs, so an unchanged disk costs reads and hashes, nothing else.
// The worker is plain JavaScript evaluated in place: it runs the same under ts-node and from dist/.

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { blake3 } = require(workerData.blakePath);
const fds = new Map();
let spare = null;
function fdFor(path) {
  let fd = fds.get(path);
  if (fd === undefined) { fd = fs.openSync(path, 'r'); fds.set(path, fd); }
  return fd;
}
parentPort.on('message', (m) => {
  if (m.close) { for (const fd of fds.values()) fs.closeSync(fd); fds.clear(); return; }
  try {
    const fd = fdFor(m.path);
    let buf = spare && spare.length >= m.length ? spare : Buffer.allocUnsafeSlow(Math.max(m.length, 1));
    spare = null;
    // The chunk is one extent, or several (change tracking: scattered blocks) read back to back.
    const extents = m.extents || [[m.offset, m.length]];
    let pos = 0;
    for (const [offset, length] of extents) {
      let got = 0;
      while (got < length) {
        const n = fs.readSync(fd, buf, pos + got, length - got, offset + got);
        if (n === 0) throw new Error('file shrank while scanning (read ' + got + ' of ' + length + ' bytes at ' + offset + ')');
        got += n;
      }
      pos += length;
    }
    const count = Math.ceil(m.length / m.blockSize);
    const hashes = Buffer.allocUnsafeSlow(Math.max(count * 32, 1));
    const old = m.old ? Buffer.from(m.old.buffer, m.old.byteOffset, m.old.byteLength) : null;
    const changed = [];
    for (let i = 0; i < count; i++) {
      const s = i * m.blockSize;
      const h = blake3(buf.subarray(s, Math.min(s + m.blockSize, m.length)));
      h.copy(hashes, i * 32);
      if (old && !h.equals(old.subarray(i * 32, i * 32 + 32))) changed.push(i);
    }
    if (changed.length > 0 && m.wantData && changed.length * 2 <= count) {
      // A few blocks changed: copy just those (the chunk buffer stays for the next read, so no
      // fresh pages are faulted in per chunk).
      const last = changed[changed.length - 1];
      const size = (changed.length - 1) * m.blockSize + Math.min(m.blockSize, m.length - last * m.blockSize);
      const data = Buffer.allocUnsafeSlow(size);
      changed.forEach((j, k) => buf.copy(data, k * m.blockSize, j * m.blockSize, Math.min((j + 1) * m.blockSize, m.length)));
      spare = buf;
      parentPort.postMessage({ id: m.id, hashes, changed, data, compact: true }, [data.buffer, hashes.buffer]);
    } else if (changed.length > 0 && m.wantData) {
      parentPort.postMessage({ id: m.id, hashes, changed, data: buf.subarray(0, m.length), compact: false }, [buf.buffer, hashes.buffer]);
    } else {
      spare = buf;
      parentPort.postMessage({ id: m.id, hashes, changed }, [hashes.buffer]);
    }
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: String(e && e.message || e), code: e && e.code });
  }
});
`;

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
}

/** A fixed set of hashing workers; requests are spread round-robin. */
export class HashPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private turn = 0;

  constructor(size = Math.max(1, Math.min(availableParallelism(), 8))) {
    const blakePath = require.resolve('@napi-rs/blake-hash');
    for (let i = 0; i < size; i++) {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { blakePath } });
      w.on('message', (m: { id: number; error?: string; code?: string; hashes: Uint8Array; changed: number[]; data?: Uint8Array; compact?: boolean }) => this.settle(m));
      w.on('error', (err) => this.failAll(err));
      this.workers.push(w);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Reads and hashes one chunk of a file. */
  hash(req: HashRequest): Promise<HashResult> {
    const id = this.nextId++;
    const worker = this.workers[this.turn++ % this.workers.length];
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, ...req });
    });
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private settle(m: { id: number; error?: string; hashes: Uint8Array; changed: number[]; data?: Uint8Array; compact?: boolean }): void {
    const p = this.pending.get(m.id);
    if (p === undefined) return;
    this.pending.delete(m.id);
    if (m.error !== undefined) {
      p.reject(new ReplicationError('IO_ERROR', `scan: ${m.error}`));
      return;
    }
    const toBuf = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
    p.resolve({ hashes: toBuf(m.hashes), changed: m.changed, ...(m.data ? { data: toBuf(m.data), compact: m.compact === true } : {}) });
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(new ReplicationError('INTERNAL', `scan worker failed: ${err.message}`, { cause: err }));
    this.pending.clear();
  }
}
