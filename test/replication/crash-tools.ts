import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { performance } from 'node:perf_hooks';

// Crash-test tools: run a child, SIGKILL it at a chosen instant, and read the phase trace it left
// (VMMIRROR_PHASE_TRACE, src/replication/util/crashpoint.ts) to learn where the signal landed.

/** The phases of one cycle on the replica side, in order (docs/replication.md steps 4-6). */
export const PHASES = ['before journal', 'journal', 'committed', 'applying', 'after'] as const;
export type Phase = (typeof PHASES)[number];

/**
 * The phase a crashpoint name starts. Names of the sending side (send-block, sender-*) and names
 * this test does not know (others may add crashpoints) return undefined: they do not move the
 * replica to another phase, so the phase stays that of the last known name.
 */
export function phaseOfName(name: string): Phase | undefined {
  if (name === 'before-commit' || name.startsWith('receive-')) return 'journal';
  if (name === 'after-commit') return 'committed';
  if (name.startsWith('apply-')) return 'applying';
  if (name === 'after-state') return 'after';
  return undefined;
}

export interface TraceLine {
  name: string;
  /** Epoch milliseconds (performance.timeOrigin + now) in the child when it reached the point. */
  at: number;
}

/** The whole lines of a trace file (a line cut by the kill is left out). */
export function readTrace(file: string): TraceLine[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  lines.pop(); // the part after the last newline: empty, or a line the kill cut short
  return lines.map(parseLine);
}

function parseLine(line: string): TraceLine {
  const [name, at] = line.split('\t');
  return { name, at: Number(at) };
}

/** The phase the process was in when the trace ended. */
export function phaseAtEnd(trace: TraceLine[]): Phase {
  let phase: Phase = 'before journal';
  for (const l of trace) phase = phaseOfName(l.name) ?? phase;
  return phase;
}

/** When each phase the trace reached began (epoch ms), in order. */
export function phaseStarts(trace: TraceLine[]): Array<{ phase: Phase; at: number }> {
  const out: Array<{ phase: Phase; at: number }> = [];
  for (const l of trace) {
    const p = phaseOfName(l.name);
    if (p !== undefined && out[out.length - 1]?.phase !== p) out.push({ phase: p, at: l.at });
  }
  return out;
}

export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * When to SIGKILL the child: `afterSpawnMs` after it was spawned, or `afterMs` after the instant the
 * child stamped on the trace line that started `phase` (the moment it entered that phase). Kills
 * past the start-up are anchored on the child's own progress because node's start-up takes 0.3-9 s
 * and, like every later step, stretches under CPU load: an instant counted from the spawn would
 * drift out of a 20 ms phase, whereas counted from the phase's own start it only drifts by the
 * watcher's latency.
 */
export type KillPlan = { afterSpawnMs: number } | { phase: Phase; afterMs: number };

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  startedAt: number;
  endedAt: number;
}

// Follows a growing trace file, reading only what was appended since the last look (the sending
// side writes a line per block, so re-reading the whole file on every change would cost O(n^2)).
class TraceFollower {
  private readonly fd: number;
  private readonly buf = Buffer.alloc(64 * 1024);
  private partial = '';

  constructor(file: string) {
    this.fd = openSync(file, 'r');
  }

  /** The whole lines appended since the last call. */
  newLines(): TraceLine[] {
    let text = this.partial;
    for (let n = readSync(this.fd, this.buf); n > 0; n = readSync(this.fd, this.buf)) text += this.buf.toString('utf8', 0, n);
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    return lines.map(parseLine);
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Runs a child (env VMMIRROR_PHASE_TRACE=traceFile when given) and kills it as planned. */
export function runChild(cmd: string, args: string[], env: Record<string, string>, o: { traceFile?: string; kill?: KillPlan } = {}): Promise<ChildResult> {
  return new Promise((res, rej) => {
    const traceEnv: Record<string, string> = {};
    if (o.traceFile !== undefined) {
      writeFileSync(o.traceFile, ''); // exists before the child starts, so it can be watched
      traceEnv.VMMIRROR_PHASE_TRACE = o.traceFile;
    }
    const kill = o.kill;
    if (kill !== undefined && 'phase' in kill && o.traceFile === undefined) throw new Error('a kill anchored on a phase needs a trace file');
    let timer: NodeJS.Timeout | undefined;
    let watcher: FSWatcher | undefined;
    let follower: TraceFollower | undefined;
    const stopWatching = (): void => {
      watcher?.close();
      follower?.close();
      watcher = undefined;
      follower = undefined;
    };
    const startedAt = nowMs();
    const child = spawn(cmd, args, { env: { ...process.env, ...env, ...traceEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    const killAt = (epochMs: number): void => {
      timer = setTimeout(() => child.kill('SIGKILL'), Math.max(0, epochMs - nowMs()));
    };
    if (kill !== undefined && 'afterSpawnMs' in kill) killAt(startedAt + kill.afterSpawnMs);
    if (kill !== undefined && 'phase' in kill) {
      const f = new TraceFollower(o.traceFile as string);
      follower = f;
      // The instant comes from the stamp inside the line, so the watcher's latency does not add to it
      // (unless the watcher is later than the instant itself: then the kill goes at once).
      watcher = watch(o.traceFile as string, () => {
        if (follower === undefined) return;
        const entered = f.newLines().find((l) => phaseOfName(l.name) === kill.phase);
        if (entered === undefined) return;
        stopWatching();
        killAt(entered.at + kill.afterMs);
      });
    }
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', rej);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      stopWatching();
      res({ code, signal, stdout, stderr, startedAt, endedAt: nowMs() });
    });
  });
}
