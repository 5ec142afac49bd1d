import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { vmProcessCommand } from './vm-script';

// Starting and judging VM processes. A VM process is detached (its own process group) so it
// outlives the driver that started it, as a VM outlives the agent (vm-script.ts picks the script).

/** Spawns a detached VM process; returns its pid. */
export function launchVmProcess(stateDir: string, vmId: string, bootId: string, hostEpoch: string): number {
  const cmd = vmProcessCommand();
  const child = spawn(cmd.file, [...cmd.args, resolve(stateDir), vmId, bootId, hostEpoch], {
    detached: true,
    stdio: 'ignore',
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: 'true' },
  });
  child.on('error', () => undefined);
  child.unref();
  if (child.pid === undefined) throw new Error('could not spawn the VM process');
  return child.pid;
}

/** True when `pid` is a live (not zombie) process running VM `vmId` (guards against pid reuse). */
export function isVmProcessAlive(pid: number, vmId: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (process.platform !== 'linux') return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const st = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (st === 'Z' || st === 'X') return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(vmId);
  } catch {
    return false;
  }
}

/** SIGKILL: the simulated "turn off" and "host crash". */
export function killVmProcess(pid: number, vmId: string): void {
  if (!isVmProcessAlive(pid, vmId)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * Every live VM process of the host in `stateDir`, found by its command line (Linux), so a VM that
 * is still starting (no runtime.json yet) is found too. Null where /proc is not available.
 */
export function vmProcessesOf(stateDir: string): Array<{ pid: number; vmId: string }> | null {
  if (process.platform !== 'linux') return null;
  const dir = resolve(stateDir);
  const out: Array<{ pid: number; vmId: string }> = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const at = argv.findIndex((a) => /^vm-process\.(js|ts)$/.test(basename(a)));
    if (at < 0 || argv[at + 1] !== dir || argv[at + 2] === undefined) continue;
    const pid = Number(name);
    if (isVmProcessAlive(pid, argv[at + 2]!)) out.push({ pid, vmId: argv[at + 2]! });
  }
  return out;
}
