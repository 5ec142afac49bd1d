import type { FileHandle } from 'node:fs/promises';
import { ReplicationError, fromNodeError } from '../../errors';

// A positional write may write fewer bytes than asked (a nearly full file system does exactly
// that: the kernel writes what fits and returns the count). Ignoring the count leaves a hole that
// nothing notices, so every write vmmirror makes goes through here: it is complete or an error.

/** The subset of FileHandle these helpers use (tests hand in a handle that writes short). */
export type PositionalWriter = Pick<FileHandle, 'write' | 'writev'>;

function noProgress(what: string, left: number): ReplicationError {
  // A write that makes no progress and reports no error: nothing more will fit.
  return new ReplicationError('DISK_FULL', `${what}: the file system accepted 0 of ${left} bytes (no space left)`, { details: { left } });
}

/** Writes all of `data` at `position`, looping on short writes. */
export async function writeAll(fh: PositionalWriter, data: Uint8Array, position: number, what: string): Promise<void> {
  let done = 0;
  while (done < data.length) {
    let n: number;
    try {
      ({ bytesWritten: n } = await fh.write(data, done, data.length - done, position + done));
    } catch (err) {
      throw fromNodeError(err, what);
    }
    if (n <= 0) throw noProgress(what, data.length - done);
    done += n;
  }
}

/** Writes `parts` back to back from `position` (one writev per attempt), looping on short writes. */
export async function writevAll(fh: PositionalWriter, parts: Uint8Array[], position: number, what: string): Promise<void> {
  const rest = parts.filter((p) => p.length > 0);
  let first = 0; // rest[first..] are still to write; rest[first] may be a tail
  let pos = position;
  while (first < rest.length) {
    let n: number;
    try {
      ({ bytesWritten: n } = await fh.writev(first === 0 ? rest : rest.slice(first), pos));
    } catch (err) {
      throw fromNodeError(err, what);
    }
    if (n <= 0) throw noProgress(what, rest.slice(first).reduce((s, p) => s + p.length, 0));
    pos += n;
    // Skip the parts written whole; keep the unwritten tail of a part written in part.
    while (n > 0 && first < rest.length) {
      if (n >= rest[first].length) {
        n -= rest[first].length;
        first += 1;
      } else {
        rest[first] = rest[first].subarray(n);
        n = 0;
      }
    }
  }
}
