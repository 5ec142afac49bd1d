import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { VmmirrorError } from '../errors';
import { cliEnv, cliNodeArgs } from './cli-node';
import { labPaths, type LabProcessName } from './layout';
import { isRecordAlive, readPidRecord, removePidRecord, signalRecord, waitGone, writePidRecord, type PidRecord } from './pid-files';
import type { LabHostName, LabProcessOutcome } from './schema';

// The lab's background processes: the witness, and per host its agent and its guard, each detached
// (its own process group, so it outlives `vmmirror lab start`), with a pid file and a log file.

const READY_TIMEOUT_MS = 60_000;
const TERM_TIMEOUT_MS = 30_000;

type Paths = ReturnType<typeof labPaths>;

/** The command line of a lab process, and the arguments that identify it in a pid file. */
function commandOf(p: Paths, name: LabProcessName): { args: string[]; markers: string[] } {
  if (name === 'witness') return { args: ['witness', 'run', '--dir', p.witnessDir], markers: ['witness', p.witnessDir] };
  const [host, role] = name.split('-') as [LabHostName, 'agent' | 'guard'];
  const dir = p.host(host).configDir;
  return { args: [role, '--dir', dir], markers: [role, dir] };
}

/** The live record of a lab process, or null (a pid file naming a dead process or a stranger is removed). */
export async function liveRecord(p: Paths, name: LabProcessName): Promise<PidRecord | null> {
  const r = await readPidRecord(p.pidFile(name));
  if (r !== null && isRecordAlive(r)) return r;
  if (r !== null) await removePidRecord(p.pidFile(name));
  return null;
}

async function logTail(path: string, lines = 20): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

async function sizeOf(path: string): Promise<number> {
  return stat(path).then(
    (s) => s.size,
    () => 0,
  );
}

// Each process is ready on a real event, never after a pause: the witness when it logs that it
// listens, the guard when its status file names its pid, the agent when its control API answers.
async function isReady(p: Paths, name: LabProcessName, pid: number, logOffset: number): Promise<boolean> {
  if (name === 'witness') {
    const text = await readFile(p.logFile(name), 'utf8').catch(() => '');
    return text.slice(logOffset).includes('"event":"witness-listening"');
  }
  const [host, role] = name.split('-') as [LabHostName, 'agent' | 'guard'];
  if (role === 'guard') {
    const { guardDir } = require('../guard/lease-file') as typeof import('../guard/lease-file');
    const text = await readFile(join(guardDir(p.host(host).dataDir), 'guard.json'), 'utf8').catch(() => '');
    try {
      return (JSON.parse(text) as { Pid?: unknown }).Pid === pid;
    } catch {
      return false;
    }
  }
  const { callAgent } = require('../agent/control/client') as typeof import('../agent/control/client');
  const { controlEndpoint } = require('../agent/control/endpoint') as typeof import('../agent/control/endpoint');
  try {
    await callAgent({ ...(await controlEndpoint(p.host(host).configDir)), timeoutMs: 2000 }, 'GET', '/v1/status');
    return true;
  } catch {
    return false;
  }
}

interface Spawned {
  name: LabProcessName;
  record: PidRecord;
  logOffset: number;
  exited: () => number | null;
  /** Resolves with the exit code once this process (our child) has exited and been reaped. */
  exit: Promise<number>;
}

function spawnDetached(p: Paths, name: LabProcessName, logOffset: number): Spawned {
  const { args, markers } = commandOf(p, name);
  const out = openSync(p.logFile(name), 'a');
  const env = cliEnv({ VMMIRROR_LOG_LEVEL: process.env.VMMIRROR_LAB_LOG_LEVEL ?? 'info' });
  // The process logs to its own file (stderr), not to one a caller of `lab start` had configured.
  delete env.VMMIRROR_LOG_FILE;
  let exitCode: number | null = null;
  let onExit: (code: number) => void = () => undefined;
  const exit = new Promise<number>((resolve) => (onExit = resolve));
  try {
    const child = spawn(process.execPath, cliNodeArgs(args), { detached: true, windowsHide: true, stdio: ['ignore', out, out], cwd: p.dir, env });
    child.once('exit', (code, signal) => {
      exitCode = code ?? (signal !== null ? 128 : -1);
      onExit(exitCode);
    });
    child.once('error', () => {
      exitCode = -1;
      onExit(exitCode);
    });
    child.unref();
    if (child.pid === undefined) throw new VmmirrorError('INTERNAL', `could not start ${name}: ${process.execPath} ${args.join(' ')}`);
    return { name, record: { Pid: child.pid, Markers: markers, StartedAt: new Date().toISOString() }, logOffset, exited: () => exitCode, exit };
  } finally {
    closeSync(out);
  }
}

async function waitReady(p: Paths, s: Spawned): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (await isReady(p, s.name, s.record.Pid, s.logOffset)) return;
    let code = s.exited();
    const gone = code !== null || !isRecordAlive(s.record);
    // Dead but not yet reaped by us (a zombie): its exit code comes with the exit event.
    if (gone && code === null) code = await Promise.race([s.exit, sleep(2000).then(() => null)]);
    if (gone || Date.now() > deadline) {
      await removePidRecord(p.pidFile(s.name));
      const why = gone ? `exited${code !== null ? ` with code ${code}` : ''} before it was ready` : `was not ready within ${READY_TIMEOUT_MS} ms (still running as pid ${s.record.Pid})`;
      throw new VmmirrorError('AGENT_UNREACHABLE', `lab ${s.name} ${why}; last lines of ${p.logFile(s.name)}:\n${await logTail(p.logFile(s.name))}`, { details: { Process: s.name, LogFile: p.logFile(s.name) } });
    }
    await sleep(100);
  }
}

/** Starts the named processes that do not run yet, then waits until each is ready. */
export async function startProcesses(p: Paths, names: LabProcessName[]): Promise<LabProcessOutcome[]> {
  const out: LabProcessOutcome[] = [];
  const spawned: Spawned[] = [];
  for (const name of names) {
    const live = await liveRecord(p, name);
    if (live !== null) {
      out.push({ Name: name, Pid: live.Pid, Action: 'already-running', LogFile: p.logFile(name) });
      continue;
    }
    const s = spawnDetached(p, name, await sizeOf(p.logFile(name)));
    await writePidRecord(p.pidFile(name), s.record);
    spawned.push(s);
    out.push({ Name: name, Pid: s.record.Pid, Action: 'started', LogFile: p.logFile(name) });
  }
  // In parallel: an agent comes up without waiting for its peer or the witness (it retries them).
  const results = await Promise.allSettled(spawned.map((s) => waitReady(p, s)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return out;
}

/** Stops the named processes, in order: SIGTERM, wait (SIGKILL after 30 s); or SIGKILL at once when `kill`. */
export async function endProcesses(p: Paths, names: LabProcessName[], how: 'term' | 'kill'): Promise<LabProcessOutcome[]> {
  const out: LabProcessOutcome[] = [];
  const records: Array<{ name: LabProcessName; record: PidRecord }> = [];
  for (const name of names) {
    const r = await liveRecord(p, name);
    if (r === null) out.push({ Name: name, Pid: null, Action: 'not-running', LogFile: p.logFile(name) });
    else records.push({ name, record: r });
  }
  // A crash kills every process first and waits after, as a power loss would; a stop goes one by one.
  if (how === 'kill') for (const { record } of records) signalRecord(record, 'SIGKILL');
  for (const { name, record } of records) {
    let action: LabProcessOutcome['Action'] = how === 'kill' ? 'killed' : 'stopped';
    if (how === 'term') {
      signalRecord(record, 'SIGTERM');
      if (!(await waitGone(record, TERM_TIMEOUT_MS))) {
        signalRecord(record, 'SIGKILL');
        action = 'killed';
      }
    }
    if (!(await waitGone(record, 10_000))) throw new VmmirrorError('INTERNAL', `lab ${name} (pid ${record.Pid}) survived SIGKILL for 10 s`);
    await removePidRecord(p.pidFile(name));
    out.push({ Name: name, Pid: record.Pid, Action: action, LogFile: p.logFile(name) });
  }
  return out;
}
