// Starting a hook so that everything it starts can be killed with it, and killing it so.
// POSIX: the hook runs as the leader of its own process group (spawn `detached` = setsid), and
// the whole group gets SIGKILL: a child the script started (Start-Process, `&` of a program) goes
// too. Windows: `taskkill /T /F` ends the process and its descendants by parent id.
import type { ChildProcess } from 'node:child_process';

type ExecaFn = (file: string, args: readonly string[], options: Record<string, unknown>) => ChildProcess & Promise<{ exitCode?: number; signal?: string; failed?: boolean; shortMessage?: string }>;
let loaded: Promise<ExecaFn> | undefined;

/** execa is ESM-only: loaded once, by dynamic import, from this CommonJS build (as src/util/exec.ts does). */
export function execaFn(): Promise<ExecaFn> {
  loaded ??= import('execa').then((m) => m.execa as unknown as ExecaFn);
  return loaded;
}

/** Spawn options that make the hook a killable tree on this platform. */
export function treeSpawnOptions(): Record<string, unknown> {
  // Windows: detached would open a console window; the tree is found by parent id instead.
  return process.platform === 'win32' ? { windowsHide: true } : { detached: true };
}

/** Kills the hook and every process it started (best effort: one already gone is fine). */
export async function killTree(pid: number | undefined): Promise<void> {
  if (pid === undefined || pid <= 0) return;
  if (process.platform === 'win32') {
    const execa = await execaFn();
    // Arguments as an array: only a number reaches taskkill.
    await execa('taskkill', ['/PID', String(pid), '/T', '/F'], { reject: false, windowsHide: true, stdio: 'ignore' });
    return;
  }
  try {
    process.kill(-pid, 'SIGKILL');
  } catch (err) {
    // ESRCH: the group is empty already. Anything else (EPERM) falls back to the leader alone.
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}
