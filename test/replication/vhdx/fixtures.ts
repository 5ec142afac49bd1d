import { expect } from 'chai';
import { open, readFile } from 'node:fs/promises';
import { runOk } from '../../../src/util/exec';
import { VmmirrorError } from '../../../src/errors';
import type { ErrorCode } from '../../../src/errors';
import { crc32c } from '../../../src/replication/vhdx/crc32c';
import { guidToBytes } from '../../../src/replication/vhdx/guid';
import { LOCATOR_TYPE_VHDX } from '../../../src/replication/vhdx/parent-locator';

// Helpers for the VHDX reader tests: qemu-img info, byte patches, and error-code assertions.

export const MiB = 1024 * 1024;

export interface QemuInfo {
  virtualSize: number;
  clusterSize?: number;
  format: string;
}

/** qemu-img's own view of an image. */
export async function qemuInfo(path: string): Promise<QemuInfo> {
  const r = await runOk('qemu-img', ['info', '--output=json', '-f', 'vhdx', path]);
  const j = JSON.parse(r.stdout) as Record<string, unknown>;
  return { virtualSize: j['virtual-size'] as number, format: j.format as string, ...(typeof j['cluster-size'] === 'number' ? { clusterSize: j['cluster-size'] } : {}) };
}

/** Reads `length` bytes of a file at `offset`. */
export async function readBytes(path: string, offset: number, length: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Overwrites bytes of a file in place. */
export async function patch(path: string, offset: number, bytes: Uint8Array): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.write(bytes, 0, bytes.length, offset);
  } finally {
    await fh.close();
  }
}

/** Rewrites a 64 KiB (or 4 KiB) checksummed structure at `offset` after `mutate`, fixing its CRC-32C. */
export async function rewriteChecksummed(path: string, offset: number, size: number, mutate: (buf: Buffer) => void): Promise<void> {
  const buf = await readBytes(path, offset, size);
  mutate(buf);
  buf.writeUInt32LE(0, 4);
  buf.writeUInt32LE(crc32c(buf), 4);
  await patch(path, offset, buf);
}

/** Awaits `p`, expects it to reject with a vmmirror error of `code`, returns the error. */
export async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<VmmirrorError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected rejection with ${code}`).to.be.instanceOf(VmmirrorError);
  expect((caught as VmmirrorError).code, (caught as Error).message).to.equal(code);
  return caught as VmmirrorError;
}

/** True when every byte of `buf` is zero. */
export function allZero(buf: Uint8Array): boolean {
  for (const b of buf) if (b !== 0) return false;
  return true;
}

/** The whole file (test disks are a few MiB). */
export function readWhole(path: string): Promise<Buffer> {
  return readFile(path);
}

/**
 * A fixed VHDX shaped like Hyper-V's: every block FULLY_PRESENT at its preallocated offset.
 * (qemu's default fixed image marks blocks PAYLOAD_BLOCK_ZERO and allocates at EOF on first write.)
 */
export async function createPreallocatedFixedVhdx(path: string, sizeBytes: number, blockSizeBytes: number): Promise<void> {
  await runOk('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', `subformat=fixed,block_state_zero=off,block_size=${blockSizeBytes}`, path, String(sizeBytes)]);
}

/** Builds a parent locator item the way MS-VHDX 2.6.2.6 lays it out. */
export function buildParentLocator(entries: Record<string, string>): Buffer {
  const pairs = Object.entries(entries);
  const head = Buffer.alloc(20 + pairs.length * 12);
  guidToBytes(LOCATOR_TYPE_VHDX).copy(head, 0);
  head.writeUInt16LE(pairs.length, 18);
  const chunks: Buffer[] = [head];
  let at = head.length;
  pairs.forEach(([k, v], i) => {
    const key = Buffer.from(k, 'utf16le');
    const value = Buffer.from(v, 'utf16le');
    head.writeUInt32LE(at, 20 + i * 12);
    head.writeUInt32LE(at + key.length, 20 + i * 12 + 4);
    head.writeUInt16LE(key.length, 20 + i * 12 + 8);
    head.writeUInt16LE(value.length, 20 + i * 12 + 10);
    chunks.push(key, value);
    at += key.length + value.length;
  });
  return Buffer.concat(chunks);
}
