import { readdir, stat } from 'node:fs/promises';

// Which processes have a given file open. Linux only (through /proc/<pid>/fd, whose entries stat
// as the files they are open on); elsewhere null: "cannot tell", and callers must not guess.
// Processes whose descriptors this user may not list are skipped: they cannot have opened a file
// in vmmirror's owner-only (0700) state folder unless they run as an administrator.

/** Pids with file (dev, ino) open; null when the platform cannot tell. */
export async function processesWithOpen(dev: number, ino: number): Promise<number[] | null> {
  if (process.platform !== 'linux') return null;
  let pids: string[];
  try {
    pids = (await readdir('/proc')).filter((e) => /^[0-9]+$/.test(e));
  } catch {
    return null;
  }
  const out: number[] = [];
  for (const pid of pids) {
    const fdDir = `/proc/${pid}/fd`;
    const fds = await readdir(fdDir).catch(() => [] as string[]);
    for (const fd of fds) {
      const st = await stat(`${fdDir}/${fd}`).catch(() => null);
      if (st !== null && st.dev === dev && st.ino === ino) {
        out.push(Number(pid));
        break;
      }
    }
  }
  return out;
}
