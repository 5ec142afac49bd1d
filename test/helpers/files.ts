import { copyFile, readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';

/** True when both files hold exactly the same bytes (test disks are small). */
export async function sameBytes(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([readFile(a), readFile(b)]);
  return x.equals(y);
}

/** Every file below `dir` with its size and content hash, to prove nothing else was written. */
export async function snapshotTree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  async function walk(d: string): Promise<void> {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else {
        const st = await stat(p);
        const { createHash } = await import('node:crypto');
        out.set(relative(dir, p), `${st.size}:${createHash('sha256').update(await readFile(p)).digest('hex')}`);
      }
    }
  }
  await walk(dir);
  return out;
}

/** Keeps a copy of a file's bytes as they are now. */
export async function keepCopy(src: string, dest: string): Promise<string> {
  await copyFile(src, dest);
  return dest;
}
