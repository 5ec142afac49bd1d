import { blake3, Blake3Hasher } from '@napi-rs/blake-hash';

// BLAKE3 (native, SIMD) for every block: a guest controls its disk's content, so the block hash
// must be collision-resistant; measured at ~5 GB/s per core on 64 KiB blocks (docs/hashing.md).

export const HASH_BYTES = 32;

/** The manifest's "unknown" entry: the replica's content of that block is not known. */
export const UNKNOWN_HASH: Buffer = Buffer.alloc(HASH_BYTES);

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** BLAKE3-256 of one block. */
export function hashBlock(data: Uint8Array): Buffer {
  const h = blake3(asBuffer(data));
  // A real block hashing to all zeros would read as "unknown" and simply be sent again: harmless.
  return h;
}

/** An incremental BLAKE3 for digests over streams (stream hash, manifest digest). */
export interface IncrementalHash {
  update(data: Uint8Array): void;
  digestHex(): string;
}

export function incrementalHash(): IncrementalHash {
  const hasher = new Blake3Hasher();
  return {
    update(data: Uint8Array): void {
      hasher.update(asBuffer(data));
    },
    digestHex(): string {
      return hasher.digest('hex');
    },
  };
}
