import { mkdir, open, rm, statfs, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { run, runOk } from '../../src/util/exec';

// A small real ext4 file system on a loop device, for tests that must see a disk fill up:
// `mkfs.ext4 -m 0 -O inline_data` (no reserved blocks, small files inside their inode), so a
// nearly full disk behaves as the one that once tore a replica. Needs root (losetup, mount).

export interface LoopFs {
  mountPoint: string;
  /** Bytes available to us now (statfs bavail), after syncing so freed blocks are counted. */
  free: () => Promise<number>;
  /** Makes free space about `bytes` (within a file-system block) with a filler file; returns it. */
  fillTo: (bytes: number) => Promise<number>;
  /** Removes the filler. */
  unfill: () => Promise<void>;
  dispose: () => Promise<void>;
}

/** Why a loop file system cannot be made here, or null when it can. */
export async function loopFsUnavailable(): Promise<string | null> {
  if (process.platform !== 'linux') return 'loop devices are Linux only';
  if (process.getuid?.() !== 0) return 'needs root (losetup and mount)';
  for (const tool of ['mkfs.ext4', 'losetup', 'mount', 'umount', 'fallocate']) {
    if ((await run('sh', ['-c', `command -v ${tool}`])).exitCode !== 0) return `${tool} is not installed`;
  }
  return null;
}

async function syncFs(path: string): Promise<void> {
  await runOk('sync', ['-f', path]);
}

/** Creates, formats and mounts a `sizeMiB` ext4 file system under `workDir`. */
export async function createLoopFs(workDir: string, sizeMiB: number): Promise<LoopFs> {
  const image = join(workDir, 'fs.img');
  const mountPoint = join(workDir, 'mnt');
  const filler = join(mountPoint, 'filler');
  await truncate(image, 0).catch(async () => (await open(image, 'w')).close());
  await truncate(image, sizeMiB << 20);
  await runOk('mkfs.ext4', ['-q', '-F', '-m', '0', '-O', 'inline_data', image]);
  const device = (await runOk('losetup', ['--find', '--show', image])).stdout.trim();
  let mounted = false;
  const dispose = async (): Promise<void> => {
    if (mounted) {
      // A lazy unmount still detaches it if something (a killed child) holds a file open.
      if ((await run('umount', [mountPoint])).exitCode !== 0) await run('umount', ['-l', mountPoint]);
      mounted = false;
    }
    await run('losetup', ['-d', device]);
    await rm(image, { force: true });
  };
  try {
    await mkdir(mountPoint, { recursive: true });
    await runOk('mount', ['-t', 'ext4', device, mountPoint]);
    mounted = true;
  } catch (err) {
    await dispose();
    throw err;
  }
  const free = async (): Promise<number> => {
    await syncFs(mountPoint);
    const s = await statfs(mountPoint);
    return s.bavail * s.bsize;
  };
  const fillTo = async (bytes: number): Promise<number> => {
    // fallocate sets the size; a few rounds absorb the extent blocks the filler itself needs.
    let size = 0;
    await rm(filler, { force: true });
    for (let round = 0; round < 6; round++) {
      const now = await free();
      const delta = Math.floor((now - bytes) / 4096) * 4096;
      if (delta === 0 || (delta < 0 && size === 0)) break;
      size = Math.max(0, size + delta);
      if (delta > 0) await runOk('fallocate', ['-l', String(size), filler]);
      else await truncate(filler, size);
    }
    return free();
  };
  const unfill = async (): Promise<void> => {
    await rm(filler, { force: true });
    await syncFs(mountPoint);
  };
  return { mountPoint, free, fillTo, unfill, dispose };
}
