import { z } from 'zod';

// The delta stream: versioned frames, each `magic u16 | version u8 | type u8 | length u32 | payload`.
//   HEADER  (JSON)  module, stream id (nonce), from/to generation, block size, file set and sizes
//   BLOCK   (bin)   fileIndex u16 | reserved u16 | length u32 | offset u64 | BLAKE3 hash[32] | data
//   TRAILER (JSON)  per-file resulting manifest digest and content digest, BLAKE3 of every byte before it
// Blocks come strictly ordered by (fileIndex, offset), each exactly one block of the manifest.
// docs/delta-stream.md describes the format and its limits.

export const FRAME_MAGIC = 0x564d; // "VM"
export const FORMAT_VERSION = 1;
export const FRAME_HEADER_BYTES = 8;
export const BLOCK_PREFIX_BYTES = 48;
export const MAX_JSON_FRAME_BYTES = 1 << 20;
export const MIN_BLOCK_SIZE = 4096;
export const MAX_BLOCK_SIZE = 16 << 20;
export const DEFAULT_BLOCK_SIZE = 64 << 10;

export type FrameType = 'header' | 'block' | 'trailer';
export const FRAME_TYPE_CODES: Record<FrameType, number> = { header: 1, block: 2, trailer: 3 };

const Hex32 = z.string().regex(/^[0-9a-f]{64}$/);
const SafeName = z
  .string()
  .min(1)
  .max(255)
  .refine((s) => !/[\\/\0]/.test(s) && s !== '.' && s !== '..', 'must be a plain file name');

export const BlockSize = z
  .number()
  .int()
  .min(MIN_BLOCK_SIZE)
  .max(MAX_BLOCK_SIZE)
  .refine((n) => (n & (n - 1)) === 0, 'must be a power of two');

export const StreamFile = z
  .object({
    Index: z.number().int().min(0).max(65535),
    Name: SafeName,
    Size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    Mode: z.enum(['vhdx', 'raw']),
    DataWriteGuid: z.string().optional(),
  })
  .strict();
export type StreamFile = z.infer<typeof StreamFile>;

export const StreamHeader = z
  .object({
    Format: z.literal('vmmirror-delta'),
    Version: z.literal(FORMAT_VERSION),
    Module: z.string().min(1).max(255),
    StreamId: z.string().regex(/^[0-9a-f]{32}$/),
    FromGeneration: z.number().int().min(0),
    ToGeneration: z.number().int().min(1),
    BlockSize,
    CreatedAt: z.string().datetime(),
    TakenAt: z.string().datetime(),
    Files: z.array(StreamFile).min(1).max(64),
  })
  .strict()
  .refine((h) => h.ToGeneration === h.FromGeneration + 1, 'ToGeneration must be FromGeneration + 1')
  .refine((h) => h.Files.every((f, i) => f.Index === i), 'Files must be indexed 0..n-1 in order')
  .refine((h) => new Set(h.Files.map((f) => f.Name)).size === h.Files.length, 'file names must be unique');
export type StreamHeader = z.infer<typeof StreamHeader>;

export const TrailerFile = z
  .object({
    Index: z.number().int().min(0),
    Blocks: z.number().int().min(0),
    Bytes: z.number().int().min(0),
    ManifestDigest: Hex32,
    ContentDigest: Hex32,
  })
  .strict();
export type TrailerFile = z.infer<typeof TrailerFile>;

export const StreamTrailer = z
  .object({
    BlockCount: z.number().int().min(0),
    StreamHash: Hex32,
    Files: z.array(TrailerFile),
  })
  .strict();
export type StreamTrailer = z.infer<typeof StreamTrailer>;

export interface BlockFrame {
  fileIndex: number;
  offset: number;
  hash: Buffer;
  data: Buffer;
}

/** Encodes a frame header for a payload of `length` bytes. */
export function frameHeader(type: FrameType, length: number): Buffer {
  const h = Buffer.alloc(FRAME_HEADER_BYTES);
  h.writeUInt16BE(FRAME_MAGIC, 0);
  h.writeUInt8(FORMAT_VERSION, 2);
  h.writeUInt8(FRAME_TYPE_CODES[type], 3);
  h.writeUInt32BE(length, 4);
  return h;
}

/** Encodes a JSON frame (header or trailer). */
export function jsonFrame(type: 'header' | 'trailer', value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  return Buffer.concat([frameHeader(type, body.length), body]);
}

/** Encodes the fixed part of a block frame; the data follows it on the wire. */
export function blockPrefix(b: { fileIndex: number; offset: number; hash: Buffer; length: number }): Buffer {
  const p = Buffer.alloc(FRAME_HEADER_BYTES + BLOCK_PREFIX_BYTES);
  frameHeader('block', BLOCK_PREFIX_BYTES + b.length).copy(p, 0);
  p.writeUInt16LE(b.fileIndex, 8);
  p.writeUInt32LE(b.length, 12);
  p.writeBigUInt64LE(BigInt(b.offset), 16);
  b.hash.copy(p, 24);
  return p;
}
