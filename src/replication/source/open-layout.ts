import { open } from 'node:fs/promises';
import { ReplicationError, fromNodeError } from '../../errors';
import { rawLayout, type FileLayout } from './file-layout';
import { vhdxLayout } from './vhdx-layout';

// Picks how to read a source file: as a VHDX (only live regions and allocated blocks) or raw.

export type SourceMode = 'vhdx' | 'raw' | 'auto';

const VHDX_SIGNATURE = Buffer.from('vhdxfile', 'ascii');

/** Opens a source file's layout; `auto` treats files starting with `vhdxfile` as VHDX. */
export async function openLayout(path: string, mode: SourceMode): Promise<FileLayout> {
  const fh = await open(path, 'r').catch((e: unknown) => {
    throw fromNodeError(e, path);
  });
  try {
    const { size } = await fh.stat();
    let actual = mode;
    if (mode === 'auto') {
      const head = Buffer.alloc(8);
      await fh.read(head, 0, 8, 0);
      actual = size >= 8 && head.equals(VHDX_SIGNATURE) ? 'vhdx' : 'raw';
    }
    if (actual === 'vhdx') {
      return await vhdxLayout(fh, path, size);
    }
    return rawLayout(fh, size);
  } catch (err) {
    await fh.close().catch(() => undefined);
    if (err instanceof ReplicationError) throw err;
    throw fromNodeError(err, path);
  }
}
