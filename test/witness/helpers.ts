import { monoNow } from '../../src/util/mono';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { ClaimKind } from '../../src/cluster/witness-rules';
import type { WitnessClient, WitnessEvent } from '../../src/witness/events';
import { cliNodeArgs } from '../cli/vmmirror-process';

// Test helpers for the witness: the real `vmmirror witness run` as a child process, and a recorder
// of a client's events (stamped on the test's own monotonic clock) that waits for real events.

export interface WitnessProcess {
  child: ChildProcess;
  spawnedAt: number;
  port: number;
  quietMs: number;
  stderr: () => string;
  stdout: () => string;
  exited: Promise<number | null>;
}

export async function startWitnessProcess(dir: string, extraArgs: string[] = [], timeoutMs = 60_000): Promise<WitnessProcess> {
  const spawnedAt = monoNow();
  const child = spawn(process.execPath, cliNodeArgs(['witness', 'run', '--dir', dir, ...extraArgs]), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, VMMIRROR_LOG_LEVEL: 'warn' } });
  let err = '';
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const listening = new Promise<{ port: number; quietMs: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`witness did not listen within ${timeoutMs} ms: ${err}`)), timeoutMs);
    createInterface({ input: child.stderr! }).on('line', (line) => {
      err = (err + line + '\n').slice(-8000);
      try {
        const e = JSON.parse(line) as { event?: string; port?: number; quietMs?: number };
        if (e.event === 'witness-listening') {
          clearTimeout(timer);
          resolve({ port: e.port!, quietMs: e.quietMs! });
        }
      } catch {
        // not ours
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`witness exited (${code}) before listening: ${err}`));
    });
  });
  const { port, quietMs } = await listening;
  return { child, spawnedAt, port, quietMs, stderr: () => err, stdout: () => out, exited };
}

export interface Recorded {
  at: number;
  e: WitnessEvent;
}

export interface Recorder {
  events: Recorded[];
  waitFor: (match: (e: WitnessEvent) => boolean, timeoutMs: number, what: string, after?: number) => Promise<Recorded>;
}

export function record(client: WitnessClient, label: string): Recorder {
  const events: Recorded[] = [];
  const waiters = new Set<() => void>();
  client.on('event', (e: WitnessEvent) => {
    events.push({ at: monoNow(), e });
    for (const w of [...waiters]) w();
  });
  const waitFor = (match: (e: WitnessEvent) => boolean, timeoutMs: number, what: string, after = -Infinity): Promise<Recorded> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = events.find((r) => r.at >= after && match(r.e));
        if (!hit) return false;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(hit);
        return true;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`${label}: no ${what} within ${timeoutMs} ms; last events: ${JSON.stringify(events.slice(-5))}`));
      }, timeoutMs);
      if (!check()) waiters.add(check);
    });
  return { events, waitFor };
}

/** The answer to one claim: the next witness-claim or failed-claim event for that module and epoch. */
export async function claimAnswer(client: WitnessClient, rec: Recorder, module: string, epoch: number, kind: ClaimKind, timeoutMs = 10_000, to?: string): Promise<Recorded> {
  const after = monoNow();
  client.claim(module, epoch, kind, to);
  return rec.waitFor((e) => (e.type === 'witness-claim' && e.module === module && e.epoch === epoch) || (e.type === 'effect-failed' && e.module === module), timeoutMs, `answer to ${kind} claim of ${module}@${epoch}`, after);
}

/** The answer to a handover of `module`'s `epoch` to `to`. */
export function handoverAnswer(client: WitnessClient, rec: Recorder, module: string, epoch: number, to: string | undefined): Promise<Recorded> {
  return claimAnswer(client, rec, module, epoch, 'handover', 10_000, to);
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
