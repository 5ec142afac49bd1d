import { basename } from 'node:path';
import { ReplicationError, fromNodeError } from '../../errors';

// Positional reads over anything shaped like a node:fs/promises FileHandle, plus the error
// helpers every parser in this folder uses, so messages all start with the file's name.

/** The part of a FileHandle the VHDX reader needs (a FileHandle satisfies it). */
export interface VhdxFile {
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  stat(): Promise<{ size: number }>;
}

/** Names the file in errors: `path` goes into details, its base name into the message. */
export interface VhdxContext {
  readonly path: string;
  readonly name: string;
}

/** The error context for a file path (or a caller-chosen label when only a handle is known). */
export function vhdxContext(path: string): VhdxContext {
  return { path, name: basename(path) || path };
}

/** VHDX_INVALID: the file is corrupt, truncated or not a VHDX. */
export function vhdxInvalid(ctx: VhdxContext, field: string, message: string, extra: Record<string, unknown> = {}): ReplicationError {
  return new ReplicationError('VHDX_INVALID', `${ctx.name}: ${message}`, { details: { path: ctx.path, field, ...extra } });
}

/** VHDX_UNSUPPORTED: a valid VHDX using a feature this reader must not ignore. */
export function vhdxUnsupported(ctx: VhdxContext, field: string, message: string, extra: Record<string, unknown> = {}): ReplicationError {
  return new ReplicationError('VHDX_UNSUPPORTED', `${ctx.name}: ${message}`, { details: { path: ctx.path, field, ...extra } });
}

/** Reads up to `buf.length` bytes at `position`; returns how many were read (short only at EOF). */
export async function readAt(file: VhdxFile, ctx: VhdxContext, buf: Uint8Array, position: number): Promise<number> {
  let done = 0;
  try {
    while (done < buf.length) {
      const { bytesRead } = await file.read(buf, done, buf.length - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
  } catch (err) {
    throw fromNodeError(err, ctx.path);
  }
  return done;
}

/** Reads exactly `length` bytes at `position` (into `into` when given, reused by chunked scans); a short read means the file is truncated. */
export async function readExact(file: VhdxFile, ctx: VhdxContext, position: number, length: number, field: string, into?: Buffer): Promise<Buffer> {
  const buf = into !== undefined && into.length >= length ? into.subarray(0, length) : Buffer.alloc(length);
  const got = await readAt(file, ctx, buf, position);
  if (got !== length) {
    throw vhdxInvalid(ctx, field, `file is truncated: ${field} needs ${length} bytes at offset ${position}, only ${got} present`, {
      offset: position,
      length,
    });
  }
  return buf;
}

/** Size of the file behind `file`, with I/O errors mapped to typed errors. */
export async function fileSizeOf(file: VhdxFile, ctx: VhdxContext): Promise<number> {
  try {
    return (await file.stat()).size;
  } catch (err) {
    throw fromNodeError(err, ctx.path);
  }
}
