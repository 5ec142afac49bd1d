import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LoggedWrite, WriteHistory } from '../hypervisor/simulated';
import type { LabHostName } from './schema';

// The write history of one lab VM across both hosts. Each host's change log holds the runs
// (writer boots) the VM made there; put in the order they started, run k continued from the data
// of run k-1, wherever that ran: a restart continues its own disk, a failover the replica of the
// previous runner, a failback the resynchronised copy. So the history as of run k is run k-1's
// history up to the number run k started after, then run k's own writes. A run that did not start
// from the newest data (a stale copy started) breaks that chain, and the copies then fail to verify.

export interface Run {
  host: LabHostName;
  stateDir: string;
  boot: string | null;
  firstSeq: number;
  lastSeq: number;
  writes: LoggedWrite[];
  /** When the VM process logged it was up (ms since the epoch); null for writes the driver made on an off VM. */
  startedAt: number | null;
}

/** One piece of a history: the writes of one run up to a number. */
export interface Segment {
  run: Run;
  throughSeq: number;
}

// `vms/<id>/process.log` of the simulated hypervisor: "<ISO time> pid <n> up, boot <boot id>".
async function bootTimes(stateDir: string, vmId: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const text = await readFile(join(stateDir, 'vms', vmId, 'process.log'), 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const m = /^(\S+) pid \d+ up, boot ([0-9a-f-]{36})$/.exec(line);
    if (m === null) continue;
    const t = Date.parse(m[1]!);
    if (Number.isFinite(t)) out.set(m[2]!.replace(/-/g, '').slice(0, 16), t);
  }
  return out;
}

/** Every run of the VM on the given hosts, in the order they started (same machine: one clock). */
export async function runsOf(hosts: Array<{ name: LabHostName; simDir: string }>, vmId: string): Promise<Run[]> {
  const { readWriteLog } = require('../hypervisor/simulated') as typeof import('../hypervisor/simulated');
  const all: Array<Run & { key: number }> = [];
  for (const h of hosts) {
    const times = await bootTimes(h.simDir, vmId);
    let previous = -Infinity;
    let current: (Run & { key: number }) | null = null;
    for (const w of await readWriteLog(h.simDir, vmId, 0)) {
      if (current === null || current.boot !== w.boot) {
        // A run with no "up" line (the driver writing to an off VM) sorts right after the run before it on its host.
        const t = w.boot !== null ? times.get(w.boot) : undefined;
        previous = t ?? previous;
        current = { host: h.name, stateDir: h.simDir, boot: w.boot, firstSeq: w.seq, lastSeq: w.seq, writes: [], startedAt: t ?? null, key: previous };
        all.push(current);
      }
      current.writes.push(w);
      current.lastSeq = Math.max(current.lastSeq, w.seq);
    }
  }
  // Stable: runs with one key keep their order within a host's log.
  return all.sort((a, b) => (a.key === b.key ? 0 : a.key < b.key ? -1 : 1)).map(({ key: _key, ...r }) => r);
}

/** The history as of run `k` (its own writes without bound). */
export function historyOf(runs: Run[], k: number): Segment[] {
  let segments: Segment[] = [];
  for (let i = 0; i <= k; i++) {
    const r = runs[i]!;
    segments = segments.map((s) => ({ run: s.run, throughSeq: Math.min(s.throughSeq, r.firstSeq - 1) })).filter((s) => s.throughSeq >= s.run.firstSeq);
    segments.push({ run: r, throughSeq: Number.MAX_SAFE_INTEGER });
  }
  return segments;
}

/** The same history as verifyPatternPrefix takes it (each run by its host's log and boot). */
export function asWriteHistory(segments: Segment[]): WriteHistory {
  return segments.map((s) => ({ stateDir: s.run.stateDir, boots: [s.run.boot], ...(s.throughSeq < Number.MAX_SAFE_INTEGER ? { throughSeq: s.throughSeq } : {}) }));
}

/** `host:boot:seq` of every write of a history up to `n`. */
export function writesOf(segments: Segment[], n = Number.MAX_SAFE_INTEGER): Set<string> {
  const out = new Set<string>();
  for (const s of segments) for (const w of s.run.writes) if (w.seq <= Math.min(s.throughSeq, n)) out.add(writeKey(s.run, w));
  return out;
}

export function writeKey(r: Run, w: LoggedWrite): string {
  return `${r.host}:${r.boot ?? ''}:${w.seq}`;
}
