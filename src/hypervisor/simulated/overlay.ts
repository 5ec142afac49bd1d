import { open, stat, truncate } from 'node:fs/promises';

// The overlay a frozen VM writes into (the simulated .avhdx): an append-only file of records
// [magic 'SOV1' | length u32 | virtual offset u64 | data]. Merging replays the records in order
// with one bounded buffer. A record torn by a crash is cut off (its write was never acknowledged).

const MAGIC = 0x31564f53; // 'SOV1' little-endian
const HEAD = 16;
/** Largest data carried by one record; longer writes become several records. */
export const OVERLAY_MAX_RECORD = 1024 * 1024;

/** Appends a write to the overlay (creating the file). */
export async function appendOverlay(path: string, offset: number, data: Buffer): Promise<void> {
  const fh = await open(path, 'a');
  try {
    for (let p = 0; p < data.length; p += OVERLAY_MAX_RECORD) {
      const part = data.subarray(p, Math.min(p + OVERLAY_MAX_RECORD, data.length));
      const head = Buffer.alloc(HEAD);
      head.writeUInt32LE(MAGIC, 0);
      head.writeUInt32LE(part.length, 4);
      head.writeBigUInt64LE(BigInt(offset + p), 8);
      await fh.write(Buffer.concat([head, part]));
    }
  } finally {
    await fh.close();
  }
}

/** Replays every intact record in order; returns the byte length of the intact prefix. */
export async function replayOverlay(path: string, apply: (offset: number, data: Buffer) => Promise<void>): Promise<number> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  try {
    const size = (await fh.stat()).size;
    const head = Buffer.alloc(HEAD);
    const data = Buffer.alloc(OVERLAY_MAX_RECORD);
    let pos = 0;
    while (pos + HEAD <= size) {
      await fh.read(head, 0, HEAD, pos);
      const len = head.readUInt32LE(4);
      if (head.readUInt32LE(0) !== MAGIC || len > OVERLAY_MAX_RECORD || pos + HEAD + len > size) break;
      await fh.read(data, 0, len, pos + HEAD);
      await apply(Number(head.readBigUInt64LE(8)), data.subarray(0, len));
      pos += HEAD + len;
    }
    return pos;
  } finally {
    await fh.close();
  }
}

/** Cuts a torn last record off an overlay (after a crash), so appends continue on a clean tail. */
export async function repairOverlay(path: string): Promise<void> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const intact = await replayOverlay(path, async () => undefined);
  if (intact < size) await truncate(path, intact);
}
