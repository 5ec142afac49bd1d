// Which hook paths a module file may name. Pure (no file system), so the config schema can use it
// and the answer is the same on both hosts whatever exists on disk.

/** Seconds a hook may run before its whole process tree is killed (Hooks.TimeoutSeconds absent). */
export const DEFAULT_HOOK_TIMEOUT_SECONDS = 60;

/** True for a path that names its own root: `/x`, `C:\x`, `\\server\share`, `\x` (rooted on the current drive). */
export function isRootedHookPath(p: string): boolean {
  return p.startsWith('/') || p.startsWith('\\') || /^[A-Za-z]:[\\/]/.test(p);
}

/**
 * Why a hook path is refused, or null. Relative paths resolve inside the config directory and
 * must stay there: `..` climbing above it is refused here, by spelling alone, so the answer is the
 * same on both hosts whatever exists on disk. `C:x.ps1` (relative to a drive's current folder)
 * means nothing stable for a service and is refused too; powershell.exe -File runs only `.ps1`.
 */
export function hookPathProblem(p: string): string | null {
  if (/[\0\r\n]/.test(p)) return 'must not contain NUL or line breaks';
  if (!/\.ps1$/i.test(p)) return 'must name a PowerShell script (.ps1)';
  if (isRootedHookPath(p)) return null;
  if (/^[A-Za-z]:/.test(p)) return 'must be absolute (C:\\...) or relative to the config directory, not relative to a drive (C:x)';
  let depth = 0;
  for (const part of p.split(/[\\/]+/)) {
    if (part === '..') depth -= 1;
    else if (part !== '.' && part !== '') depth += 1;
    if (depth < 0) return 'must stay inside the config directory: ".." climbs out of it (use an absolute path for a script elsewhere)';
  }
  return null;
}

