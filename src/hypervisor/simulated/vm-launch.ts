import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { vmProcessCommand } from './vm-script';

// Starting and judging VM processes. A VM process is detached (its own process group) so it
// outlives the driver that started it, as a VM outlives the agent (vm-script.ts picks the script).

/** Spawns a detached VM process; returns its pid. */
export function launchVmProcess(stateDir: string, vmId: string, bootId: string): number {
  const cmd = vmProcessCommand();
  const child = spawn(cmd.file, [...cmd.args, stateDir, vmId, bootId], {
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
