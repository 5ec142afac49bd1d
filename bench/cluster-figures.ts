import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LabHostName } from '../src/lab/schema';
import type { Boot } from '../test/cluster-e2e/history';

// The figures of bench/cluster-failover.ts: what one kill/return round measured, the floor a resync
// is judged against, the summary (median and worst of each figure) and the printed table.

const BLOCK = 64 * 1024; // the engine's default hashed block
const ANCHORS = [['WSFC', 10_000], ['Pacemaker', 7_000], ['SafeKit', 30_000]] as const;

export interface ResyncFigure {
  module: string;
  /** The VM ran on the dead host and failed over (else it stayed on the survivor: a replica resync). */
  moved: boolean;
  bytes: number;
  /** The disk files' size as the owner reported it (a dynamic VHDX: what is allocated so far). */
  diskFileBytes: number;
  floorBytes: number | null;
  generation: number;
  /** How the owner found what to send ('cycle done' of that generation): Scan or ChangedRanges. */
  detection: string | null;
}

export interface ClusterRound {
  victim: LabHostName;
  killToRunningMs: number[];
  writesLost: number[];
  writesLostSeconds: number[];
  resyncs: ResyncFigure[];
  failbackDowntimeMs: number[];
  /** The same downtime seen from outside: last sample on the peer to first sample back home. */
  failbackObservedMs: number[];
  /** Writes lab verify counts lost by the failback (a planned switchover: 0). */
  failbackWritesLost: number[];
  returnToSteadyMs: number;
}

export type Stat = { median: number; worst: number; n: number };

export interface ClusterFailoverResult {
  seed: number;
  diskBytes: number;
  writesPerSecond: number;
  intervalSeconds: number;
  vms: number;
  rounds: ClusterRound[];
  momentsOnBoth: number;
  maxSampleGapMs: number;
  finalVerifyOk: boolean;
  resyncDetection: Record<string, number>;
  summary: Record<string, Stat>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const stat = (xs: number[]): Stat => ({ median: xs.length > 0 ? median(xs) : NaN, worst: xs.length > 0 ? Math.max(...xs) : NaN, n: xs.length });

/** Log lines of a lab process at or after `sinceWallMs` (pino's `time`) that `keep` accepts. */
export async function logLines(labDir: string, proc: string, sinceWallMs: number, keep: (e: Record<string, unknown>) => boolean): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(join(labDir, 'logs', `${proc}.log`), 'utf8').catch(() => '');
  const out: Array<Record<string, unknown>> = [];
  for (const line of text.split('\n')) {
    try {
      const e = JSON.parse(line) as Record<string, unknown>;
      if (typeof e.time === 'number' && e.time >= sinceWallMs && keep(e)) out.push(e);
    } catch {
      // an empty line, or one torn by the SIGKILL
    }
  }
  return out;
}

export const isEvent = (name: string) => (e: Record<string, unknown>): boolean => e.event === name;

/** Distinct 64 KiB virtual blocks a set of writes touched. */
function blocksOf(writes: Array<{ offset: number; length: number }>): number {
  const blocks = new Set<number>();
  for (const w of writes) for (let b = Math.floor(w.offset / BLOCK); b <= Math.floor((w.offset + w.length - 1) / BLOCK); b++) blocks.add(b);
  return blocks.size;
}

/**
 * A resync's floor: the 64 KiB blocks where the two copies differ because of guest writes, which
 * the resync must carry whatever it costs (every pattern unit names its write and boot, so a block
 * either side wrote since the copies last agreed differs). The copies last agreed at the generation
 * the survivor started from (a VM that failed over: the dead host's writes numbered from the
 * survivor's first one on were never replicated) or, for a VM that stayed, at the last generation
 * the dead host acknowledged; the survivor's side is its writes up to the resync's own generation,
 * its first commit after the `committedBefore` it had at the return (it commits nothing alone).
 * For a VM that stayed, the dead host may have committed one generation more than the survivor
 * recorded: that floor can include up to one cycle of writes the dead host already held.
 */
export function resyncFloor(life: Boot[], survivorBoot: string, committedBefore: number): number | null {
  const i = life.findIndex((b) => b.boot === survivorBoot);
  const on = life[i]!;
  const throughSeq = on.committed[committedBefore];
  if (throughSeq === undefined) return null;
  const own = on.writes.filter((w) => w.seq <= throughSeq);
  const previous = life[i - 1];
  if (committedBefore === 0 && previous !== undefined && previous.host !== on.host) {
    return blocksOf([...previous.writes.filter((w) => w.seq >= on.firstSeq), ...own]) * BLOCK;
  }
  const agreed = committedBefore > 0 ? on.committed[committedBefore - 1]! : on.firstSeq - 1;
  return blocksOf(own.filter((w) => w.seq > agreed)) * BLOCK;
}

export function summarise(rounds: ClusterRound[], diskBytes: number, cycleMs: number[]): { summary: Record<string, Stat>; resyncDetection: Record<string, number> } {
  const all = (k: 'killToRunningMs' | 'writesLostSeconds' | 'failbackDowntimeMs' | 'failbackObservedMs' | 'failbackWritesLost'): number[] => rounds.flatMap((x) => x[k]);
  const resyncs = rounds.flatMap((x) => x.resyncs);
  const moved = resyncs.filter((y) => y.moved);
  const stayed = resyncs.filter((y) => !y.moved);
  const overFloor = (xs: ResyncFigure[]) => stat(xs.filter((x) => x.floorBytes !== null && x.floorBytes > 0).map((x) => x.bytes / x.floorBytes!));
  const floors = (xs: ResyncFigure[]) => stat(xs.filter((x) => x.floorBytes !== null).map((x) => x.floorBytes!));
  const resyncDetection: Record<string, number> = {};
  for (const r of resyncs) resyncDetection[`${r.moved ? 'moved' : 'stayed'} ${String(r.detection)}`] = (resyncDetection[`${r.moved ? 'moved' : 'stayed'} ${String(r.detection)}`] ?? 0) + 1;
  return {
    resyncDetection,
    summary: {
      killToRunningMs: stat(all('killToRunningMs')),
      writesLostSeconds: stat(all('writesLostSeconds')),
      cycleMs: stat(cycleMs),
      resyncMovedBytes: stat(moved.map((x) => x.bytes)),
      floorMovedBytes: floors(moved),
      resyncMovedOverFloor: overFloor(moved),
      resyncMovedOverDisk: stat(moved.map((x) => x.bytes / diskBytes)),
      resyncStayedBytes: stat(stayed.map((x) => x.bytes)),
      floorStayedBytes: floors(stayed),
      resyncStayedOverFloor: overFloor(stayed),
      resyncStayedOverDisk: stat(stayed.map((x) => x.bytes / diskBytes)),
      failbackDowntimeMs: stat(all('failbackDowntimeMs')),
      failbackObservedMs: stat(all('failbackObservedMs')),
      failbackWritesLost: stat(all('failbackWritesLost')),
      returnToSteadyMs: stat(rounds.map((x) => x.returnToSteadyMs)),
    },
  };
}

/** The table rows: figure, median / worst (n), and the ratio or target it is read against. */
export function clusterFailoverRows(c: ClusterFailoverResult): Array<[string, string, string]> {
  const s = c.summary;
  const mw = (k: string, f: (x: number) => string): string => `${f(s[k]!.median)} / ${f(s[k]!.worst)} (n=${s[k]!.n})`;
  const sec = (x: number): string => `${(x / 1000).toFixed(2)} s`;
  const mib = (x: number): string => `${(x / 2 ** 20).toFixed(1)} MiB`;
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
  const times = (x: number): string => `${x.toFixed(2)}x`;
  const k = s.killToRunningMs!.median;
  return [
    ['kill-to-running', mw('killToRunningMs', sec), `target <= 10 s; median ${ANCHORS.map(([n, a]) => `${(k / a).toFixed(2)}x ${n} ~${a / 1000} s`).join(', ')}`],
    ['writes lost, s of guest writes', mw('writesLostSeconds', (x) => `${x.toFixed(2)} s`), `target <= interval + one cycle = ${c.intervalSeconds} s + ${sec(s.cycleMs!.worst)} (worst cycle)`],
    ['replication cycle (resyncs excluded)', mw('cycleMs', sec), ''],
    ['resync of a VM that failed over', mw('resyncMovedBytes', mib), `floor ${mw('floorMovedBytes', mib)}; disk ${mib(c.diskBytes)}`],
    ['  / its floor (64 KiB blocks that differ)', mw('resyncMovedOverFloor', times), ''],
    ['  / disk size', mw('resyncMovedOverDisk', pct), ''],
    ['resync of a VM that stayed', mw('resyncStayedBytes', mib), `the dead host's replica of it; floor ${mw('floorStayedBytes', mib)}`],
    ['  / its floor', mw('resyncStayedOverFloor', times), ''],
    ['  / disk size', mw('resyncStayedOverDisk', pct), `detection: ${Object.entries(c.resyncDetection).map(([d, n]) => `${d} x${n}`).join(', ')}`],
    ['failback downtime (agent, failback-done)', mw('failbackDowntimeMs', sec), `seen in the samples: ${mw('failbackObservedMs', sec)}; writes it lost: ${mw('failbackWritesLost', String)} (target 0)`],
    ['return to steady (lab start to PRIM/SECOND)', mw('returnToSteadyMs', sec), 'FailbackStableSeconds 2 (default 30)'],
    ['samples with a VM on both hosts', `${c.momentsOnBoth} (longest gap ${c.maxSampleGapMs.toFixed(0)} ms)`, `C1: 0; lab verify --stopped at the end: ${c.finalVerifyOk ? 'ok' : 'NOT OK'}`],
  ];
}
