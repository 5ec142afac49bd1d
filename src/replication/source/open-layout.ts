import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { ReplicationError, fromNodeError } from '../../errors';
import { rawLayout, type FileLayout } from './file-layout';
import { fileIdentity } from './hash-pool';
import { fingerprintChanges, takeFingerprint } from './source-fingerprint';
import { vhdxLayout } from './vhdx-layout';

// Picks how to read a source file: as a VHDX (only live regions and allocated blocks) or raw.

export type SourceMode = 'vhdx' | 'raw' | 'auto';

const VHDX_SIGNATURE = Buffer.from('vhdxfile', 'ascii');
const VHDX_NAME = /\.a?vhdx$/i;

/**
 * Opens a source file's layout; `auto` treats files starting with `vhdxfile` as VHDX. A file NAMED
 * .vhdx/.avhdx without that signature is refused in `auto` mode: it is a damaged disk, and copying
 * it raw would hand the peer a replica no hypervisor can open. `raw` copies it anyway, on purpose.
 */
export async function openLayout(path: string, mode: SourceMode): Promise<FileLayout> {
  const fh = await open(path, 'r').catch((e: unknown) => {
    throw fromNodeError(e, path);
  });
  try {
    // Stat before anything is parsed: a write after this instant shows in the fingerprint at the end.
    const early = await fh.stat({ bigint: true });
    const size = Number(early.size);
    let actual = mode;
    if (mode === 'auto') {
      const head = Buffer.alloc(8);
      const { bytesRead } = await fh.read(head, 0, 8, 0);
      actual = bytesRead === 8 && head.equals(VHDX_SIGNATURE) ? 'vhdx' : 'raw';
      if (actual === 'raw' && VHDX_NAME.test(path)) {
        const what = size === 0 ? 'is empty' : `does not start with the VHDX signature "vhdxfile" (${size} bytes)`;
        throw new ReplicationError('VHDX_INVALID', `${basename(path)}: named like a VHDX but ${what}; not replicated (use --mode raw to copy it byte for byte anyway)`, {
          details: { path, field: 'fileIdentifier', size },
        });
      }
    }
    const layout = actual === 'vhdx' ? await vhdxLayout(fh, path, size) : rawLayout(fh, size);
    const structures = layout.structureExtents;
    const opened = { ...(await takeFingerprint(fh, path, structures)), size, mtimeNs: early.mtimeNs, ctimeNs: early.ctimeNs, ino: early.ino, dataWriteGuid: layout.dataWriteGuid };
    return { ...layout, identity: fileIdentity(early), changesSinceOpen: async () => fingerprintChanges(opened, await takeFingerprint(fh, path, structures)) };
  } catch (err) {
    await fh.close().catch(() => undefined);
    if (err instanceof ReplicationError) throw err;
    throw fromNodeError(err, path);
  }
}
