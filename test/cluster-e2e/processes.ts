import type { ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { callAgent } from '../../src/agent/control/client';
import { controlEndpoint } from '../../src/agent/control/endpoint';
import { guardDir } from '../../src/guard/lease-file';
import { cliNodeArgs } from '../cli/vmmirror-process';
import type { NetnsHost, NetnsLab } from '../helpers/netns';

// One lab process (witness, or a host's agent or guard) started by the test inside its network
// namespace, as the real CLI (`ip netns exec` execs node in place: the child's pid is the process's
// own, so a SIGKILL reaches it and nothing else). Each waits for a real sign of life, not a sleep.

export type ProcessKind = 'witness' | 'agent' | 'guard';

export interface LabProcess {
  name: string;
  proc: ChildProcess;
  exited: Promise<void>;
  logFile: string;
}

export interface SpawnSpec {
  net: NetnsLab;
  ns: NetnsHost;
  kind: ProcessKind;
  /** The host's config dir (agent, guard) or the witness dir. */
  dir: string;
  /** The host's data dir (the guard's status file lives there). */
  dataDir?: string;
  logsDir: string;
  name: string;
}

const READY_TIMEOUT_MS = 60_000;

export async function spawnLabProcess(s: SpawnSpec): Promise<LabProcess> {
  const args = s.kind === 'witness' ? ['witness', 'run', '--dir', s.dir] : s.kind === 'agent' ? ['agent', '--dir', s.dir, '--json'] : ['guard', '--dir', s.dir];
  const logFile = join(s.logsDir, `${s.name}.log`);
  const env = { ...process.env, VMMIRROR_LOG_LEVEL: process.env.AGENT_LOG_LEVEL ?? 'info', VMMIRROR_LOG_FILE: logFile };
  const proc = s.net.spawnIn(s.ns, process.execPath, cliNodeArgs(args), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr = createWriteStream(`${logFile}.stderr`, { flags: 'a' });
  let stderrText = '';
  proc.stderr!.on('data', (d: Buffer) => {
    if (stderrText.length < 64 * 1024) stderrText += d.toString();
  });
  proc.stderr!.pipe(stderr);
  proc.stdout!.resume();
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const p: LabProcess = { name: s.name, proc, exited, logFile };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${s.name} exited (${proc.exitCode ?? proc.signalCode}) before it was ready; stderr: ${stderrText.slice(-2000)}`);
    if (await isReady(s, proc, stderrText)) return p;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`${s.name} not ready after ${READY_TIMEOUT_MS} ms (log ${logFile}); stderr: ${stderrText.slice(-2000)}`);
    }
    await sleep(100);
  }
}

async function isReady(s: SpawnSpec, proc: ChildProcess, stderrText: string): Promise<boolean> {
  if (s.kind === 'witness') return stderrText.includes('"witness-listening"');
  if (s.kind === 'agent') {
    try {
      await callAgent({ ...(await controlEndpoint(s.dir)), timeoutMs: 2000 }, 'GET', '/v1/status');
      return true;
    } catch {
      return false;
    }
  }
  // The guard writes its status file (its pid) every second once it polls the lease.
  try {
    const status = JSON.parse(await readFile(join(guardDir(s.dataDir!), 'guard.json'), 'utf8')) as { Pid?: number };
    return status.Pid === proc.pid;
  } catch {
    return false;
  }
}

/** SIGKILLs the process and waits until it is gone. */
export async function killLabProcess(p: LabProcess | null): Promise<void> {
  if (p === null) return;
  if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
  await p.exited;
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stopLabProcess(p: LabProcess | null, graceMs = 15_000): Promise<void> {
  if (p === null) return;
  if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGTERM');
  const timer = setTimeout(() => p.proc.kill('SIGKILL'), graceMs);
  await p.exited;
  clearTimeout(timer);
}
