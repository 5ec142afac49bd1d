import { open } from 'node:fs/promises';
import { FILE_SIGNATURE } from './constants';

/** True when the file at `path` starts with the VHDX signature `vhdxfile` (false if unreadable or shorter). */
export async function sniffVhdx(path: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch {
    return false;
  }
  try {
    const buf = Buffer.alloc(8);
    const { bytesRead } = await fh.read(buf, 0, 8, 0);
    return bytesRead === 8 && buf.toString('latin1') === FILE_SIGNATURE;
  } catch {
    return false;
  } finally {
    await fh.close();
  }
}
