import { readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { writeFileAtomic } from '../config/write';

// `<lab>/run/<process>.pid`: which process of the lab runs as which pid. A pid alone can be reused
// by an unrelated process after a reboot or a crash, so the record also keeps arguments of the
// command line (the command and the folder it serves), and a process counts as ours only while
// its command line still holds them: `lab stop` never signals a stranger.

export const PidRecord = z
  .object({
    Pid: z.number().int().positive(),
    /** Arguments the process's command line holds: its command (agent, guard, run) and its --dir folder. */
    Markers: z.array(z.string().min(1)).min(1),
    StartedAt: z.string().datetime(),
  })
  .strict();
export type PidRecord = z.infer<typeof PidRecord>;

export async function readPidRecord(path: string): Promise<PidRecord | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const r = PidRecord.safeParse(JSON.parse(text));
    // A torn or foreign pid file names no process we may signal.
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

export async function writePidRecord(path: string, r: PidRecord): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(PidRecord.parse(r))}\n`);
}

export async function removePidRecord(path: string): Promise<void> {
  await rm(path, { force: true });
}

/** True while `r.Pid` is alive, not a zombie, and (where /proc exists) still runs the command the record names. */
export function isRecordAlive(r: PidRecord): boolean {
  try {
    process.kill(r.Pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (process.platform !== 'linux') return true;
  try {
    const stat = readFileSync(`/proc/${r.Pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    const argv = readFileSync(`/proc/${r.Pid}/cmdline`, 'utf8').split('\0');
    return r.Markers.every((m) => argv.includes(m));
  } catch {
    return false;
  }
}

/** Sends `signal` if the process is still ours; false when it was already gone. */
export function signalRecord(r: PidRecord, signal: NodeJS.Signals): boolean {
  if (!isRecordAlive(r)) return false;
  try {
    process.kill(r.Pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** Waits until the process has exited; false if it still lives after `timeoutMs`. */
export async function waitGone(r: PidRecord, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isRecordAlive(r)) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}
