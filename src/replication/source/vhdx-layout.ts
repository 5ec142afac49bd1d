import type { FileHandle } from 'node:fs/promises';
import { ReplicationError } from '../../errors';
import type { FileLayout } from './file-layout';

/** VHDX layout (filled in when the VHDX reader lands). */
export async function vhdxLayout(_fh: FileHandle, path: string, _size: number): Promise<FileLayout> {
  throw new ReplicationError('VHDX_UNSUPPORTED', `${path}: VHDX mode is not available yet`);
}
