import { posix, win32 } from 'node:path';
import { type ResolvedModule, fileName } from '../config';
import { ModuleFile } from '../config/module';
import { InvariantError } from '../errors';

// Moving a module's DefaultPrimary rewrites its file, and more than the one field: `Disks[].Path`
// names the copy on the default primary and `ReplicaPath` the copy on the other host, so a new
// default primary swaps the two. Each host then keeps reading and writing the very file it did
// before (its localPath), and the disk's name (the file name of Path, used on the wire and in
// manifests) must not change. A module whose swap cannot keep both is not movable: it stays where
// it is (the plan says why) rather than have its hosts pick other files.

function isAbsolutePath(p: string): boolean {
  return posix.isAbsolute(p) || win32.isAbsolute(p);
}

/**
 * Why this module's default primary cannot change (null: it can). `rawDisks` is the file's Disks
 * as written, `dataDirectory` cluster.json's DataDirectory as written (relative ones resolve from
 * each host's own config directory, so a default ReplicaPath under it may differ between hosts).
 */
export function immovableReason(m: ResolvedModule, rawDisks: unknown, dataDirectory: string): string | null {
  if (m.disks === 'auto') return null;
  const written = Array.isArray(rawDisks) ? (rawDisks as Array<{ ReplicaPath?: unknown }>) : [];
  for (const [i, d] of m.disks.entries()) {
    const explicit = written[i]?.ReplicaPath;
    // The default ReplicaPath is under DataDirectory as resolved on this host; written into Path
    // it must mean the same file on the other host, so it must be absolute.
    if (typeof explicit === 'string' ? !isAbsolutePath(explicit) : !isAbsolutePath(dataDirectory)) {
      return `Disks[${i}].ReplicaPath ${typeof explicit === 'string' ? `"${explicit}"` : `(default, under a relative DataDirectory)`} is not an absolute path, so it cannot become Path: set an absolute ReplicaPath to let balancing move it`;
    }
    if (!isAbsolutePath(d.path)) return `Disks[${i}].Path "${d.path}" is not an absolute path, so it cannot become ReplicaPath`;
    if (fileName(d.replicaPath) !== d.name) {
      return `Disks[${i}]: the copies' file names differ (${d.name}, ${fileName(d.replicaPath)}); the disk's name would change with the default primary`;
    }
  }
  return null;
}

/**
 * The module file's text with DefaultPrimary `to` and, for listed disks, Path and ReplicaPath
 * swapped (`resolved` gives the default ReplicaPath when the file leaves it out). Every other
 * field stays as written, in its order. Checked against the module schema before it is returned.
 */
export function rewriteModuleText(text: string, to: string, resolved: ResolvedModule): string {
  const raw = JSON.parse(text.replace(/^\uFEFF/, '')) as Record<string, unknown>;
  const out: Record<string, unknown> = { ...raw, DefaultPrimary: to };
  if (Array.isArray(raw.Disks) && resolved.disks !== 'auto') {
    const disks = resolved.disks;
    out.Disks = (raw.Disks as Array<Record<string, unknown>>).map((disk, i) => {
      const copy: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(disk)) {
        if (k === 'ReplicaPath') continue;
        copy[k] = k === 'Path' ? disks[i].replicaPath : v;
        if (k === 'Path') copy.ReplicaPath = disks[i].path;
      }
      return copy;
    });
  }
  const checked = ModuleFile.safeParse(out);
  if (!checked.success) throw new InvariantError(`module ${resolved.name}: the rewritten file fails its schema: ${checked.error.message}`);
  return `${JSON.stringify(out, null, 2)}\n`;
}
