import type { FileHandle } from 'node:fs/promises';
import { fromNodeError } from '../../errors';
import { incrementalHash } from '../hash';
import { readHeaders } from '../vhdx/header';
import { vhdxContext } from '../vhdx/file-io';

// Is the source file still the one we started reading? A one-shot `replicate` of a running VM's
// disk (no checkpoint) reads a file that changes under it: the BAT grows past the blocks we read,
// the header's DataWriteGuid moves, the file grows. Shipping that gives a replica that is torn
// (qemu-img check: BAT entries past the end of the file). So a fingerprint is taken when the file
// is opened, before its structures are parsed, and compared once everything has been read; any
// difference fails the cycle before the trailer, so the replica never commits.

const READ_CHUNK = 1 << 20;

export interface SourceFingerprint {
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
  /** VHDX only: the current header's DataWriteGuid (changes before any visible data write). */
  dataWriteGuid: string | null;
  /** VHDX only: BLAKE3 of the header section, BAT and metadata bytes (the structures the scan used). */
  structureHash: string | null;
}

/** What differs between two fingerprints, in words; empty when they agree. */
export function fingerprintChanges(before: SourceFingerprint, after: SourceFingerprint): string[] {
  const out: string[] = [];
  if (before.ino !== after.ino) out.push('the file was replaced');
  if (before.size !== after.size) out.push(`its size went from ${before.size} to ${after.size} bytes`);
  if (before.dataWriteGuid !== after.dataWriteGuid) out.push(`its DataWriteGuid went from ${before.dataWriteGuid} to ${after.dataWriteGuid}`);
  if (before.structureHash !== after.structureHash) out.push('its VHDX headers, BAT or metadata changed');
  if (before.mtimeNs !== after.mtimeNs || before.ctimeNs !== after.ctimeNs) out.push('it was written to (modification time changed)');
  return out;
}

/**
 * Takes a fingerprint through the open handle. `structures` are the VHDX extents to hash (header
 * section, BAT, metadata), read in 1 MiB pieces: memory stays bounded whatever the BAT size.
 */
export async function takeFingerprint(fh: FileHandle, path: string, structures: Array<{ offset: number; length: number }> | null): Promise<SourceFingerprint> {
  try {
    const st = await fh.stat({ bigint: true });
    let dataWriteGuid: string | null = null;
    let structureHash: string | null = null;
    if (structures !== null) {
      // Both header slots unreadable means the writer is rewriting them right now: that too is a change.
      dataWriteGuid = await readHeaders(fh, vhdxContext(path)).then(
        (h) => h.current.dataWriteGuid,
        () => 'unreadable',
      );
      const h = incrementalHash();
      const buf = Buffer.allocUnsafe(READ_CHUNK);
      for (const e of structures) {
        for (let at = e.offset; at < e.offset + e.length; ) {
          const want = Math.min(READ_CHUNK, e.offset + e.length - at);
          const { bytesRead } = await fh.read(buf, 0, want, at);
          h.update(buf.subarray(0, bytesRead));
          if (bytesRead === 0) break; // past the end now: the size check reports it
          at += bytesRead;
        }
      }
      structureHash = h.digestHex();
    }
    return { size: Number(st.size), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino, dataWriteGuid, structureHash };
  } catch (err) {
    throw fromNodeError(err, path);
  }
}
