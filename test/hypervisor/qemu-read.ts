import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runOk } from '../../src/util/exec';

// Reads a disk's virtual content through QEMU (an independent VHDX implementation), so a test
// never judges our own VHDX mapping with that same mapping.

/** Virtual bytes [offset, offset+length) of a VHDX (or raw, by format probe) file. */
export async function readVirtualQemu(path: string, offset: number, length: number, format: 'vhdx' | 'raw' = 'vhdx'): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'vmmirror-qread-'));
  try {
    const raw = join(dir, 'disk.raw');
    // -U: read even while another process (a simulated VM) holds the image open.
    await runOk('qemu-img', ['convert', '-U', '-f', format, '-O', 'raw', path, raw]);
    const fh = await open(raw, 'r');
    try {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      if (bytesRead !== length) throw new Error(`readVirtualQemu: short read ${bytesRead}/${length} at ${offset} of ${path}`);
      return buf;
    } finally {
      await fh.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
