import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { asWriteHistory, historyOf, runsOf, writeKey, writesOf, type Run, type Segment } from './history';
import { labPaths, readLab } from './layout';
import { LAB_HOSTS, type CopyReport, type LabHostName, type LabModule, type LabVerifyOutput, type VmReport } from './schema';

// `vmmirror lab verify`: for each VM, where it runs now and what each host's copy holds, judged
// by the simulated hypervisor's pattern verifier against the VM's history over both hosts
// (history.ts). Ok only when every VM runs on exactly one host (or, asked with `stopped`, on none)
// and every copy that is not running is a consistent prefix of a history the VM really had.

type Sim = typeof import('../hypervisor/simulated');

const READ_ATTEMPTS = 3;

async function stamp(path: string): Promise<string> {
  const s = await stat(path, { bigint: true });
  return `${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

// A stopped copy can still change under the reader (the agent applies a replication cycle to it
// in place): a read is kept only if the file did not change while it was read.
async function judgeCopy(sim: Sim, m: LabModule, host: LabHostName, path: string, runs: Run[], current: Segment[]): Promise<CopyReport & { held: Set<string> | null }> {
  const base = { Host: host, Path: path, Running: false };
  for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
    const before = await stamp(path);
    // The run that made the newest write on this copy names the history the copy must be a prefix of.
    let newest: { seq: number; boot: string } | null = null;
    for (const { offset, unit } of await sim.decodeDiskPattern(path, 'VHDX')) {
      if (unit.vmId !== m.VmId || unit.diskIndex !== 0 || unit.writeOffset + unit.unitIndex * sim.PATTERN_UNIT !== offset) continue;
      if (newest === null || unit.seq > newest.seq) newest = { seq: unit.seq, boot: unit.boot };
    }
    const k = newest === null ? runs.length - 1 : runs.findIndex((r) => r.boot === newest!.boot);
    const history = k >= 0 ? historyOf(runs, k) : current;
    const report = history.length > 0
      ? await sim.verifyPatternPrefix({ diskPath: path, format: 'VHDX', vmId: m.VmId, diskIndex: 0, history: asWriteHistory(history) })
      : await emptyHistoryReport(sim, path, m.VmId);
    if ((await stamp(path)) !== before) continue;
    const held = writesOf(history, report.prefixSeq);
    const currentWrites = writesOf(current);
    const onCurrent = [...held].every((w) => currentWrites.has(w));
    const note = k < 0 && newest !== null ? `its newest write (number ${newest.seq}, boot ${newest.boot}) is from a run no host's log knows` : undefined;
    return {
      ...base, Consistent: report.consistent, PrefixSeq: report.prefixSeq, OnCurrentHistory: onCurrent, PatternUnits: report.patternUnits,
      Mismatches: report.mismatches.map((x) => ({ Offset: x.offset, ExpectedSeq: x.expectedSeq, FoundSeq: x.foundSeq, ...(x.note !== undefined ? { Note: x.note } : {}) })),
      ...(note !== undefined ? { Note: note } : {}), held,
    };
  }
  return { ...base, Consistent: null, PrefixSeq: null, OnCurrentHistory: null, PatternUnits: null, Mismatches: [], Note: `changed while it was read, ${READ_ATTEMPTS} times (a replication cycle was applying to it)`, held: null };
}

// No write was ever logged: a consistent copy holds no unit of this VM at all.
async function emptyHistoryReport(sim: Sim, path: string, vmId: string): Promise<{ consistent: boolean; prefixSeq: number; patternUnits: number; mismatches: Array<{ offset: number; expectedSeq: number[]; foundSeq: number | null; note?: string }> }> {
  const units = (await sim.decodeDiskPattern(path, 'VHDX')).filter((u) => u.unit.vmId === vmId);
  return { consistent: units.length === 0, prefixSeq: 0, patternUnits: units.length, mismatches: units.slice(0, 20).map((u) => ({ offset: u.offset, expectedSeq: [], foundSeq: u.unit.seq, note: 'no write was ever logged' })) };
}

async function verifyVm(sim: Sim, p: ReturnType<typeof labPaths>, m: LabModule, running: Record<LabHostName, Set<string>>, expectStopped: boolean): Promise<VmReport> {
  const runs = await runsOf(LAB_HOSTS.map((h) => ({ name: h, simDir: p.host(h).simDir })), m.VmId);
  const current = runs.length > 0 ? historyOf(runs, runs.length - 1) : [];
  const runningOn = LAB_HOSTS.filter((h) => running[h].has(m.VmId));
  const problems: string[] = [];
  if (runningOn.length === 2) problems.push(`${m.Name} RUNS ON BOTH HOSTS (hva and hvb)`);
  if (runningOn.length === 0 && !expectStopped) problems.push(`${m.Name} runs on no host`);
  if (runningOn.length === 1 && expectStopped) problems.push(`${m.Name} still runs on ${runningOn[0]!}`);
  const copies: Array<CopyReport & { held: Set<string> | null }> = [];
  for (const h of LAB_HOSTS) {
    const path = join(p.host(h).disksDir, m.Name, `${m.Name}.vhdx`);
    if (running[h].has(m.VmId)) {
      // The disk of a running VM changes under any reader; only a frozen view reads it whole, and
      // taking one would race the agent's own. It holds every write of its run (in flight aside).
      copies.push({ Host: h, Path: path, Running: true, Consistent: null, PrefixSeq: null, OnCurrentHistory: true, PatternUnits: null, Mismatches: [], Note: 'running: not read (judge it after `vmmirror lab stop`)', held: writesOf(current) });
      continue;
    }
    const c = await judgeCopy(sim, m, h, path, runs, current);
    if (c.Consistent === false) problems.push(`the copy on ${h} is not a consistent prefix of ${m.Name}'s writes (${c.Mismatches.length} unit(s) differ, first at offset ${c.Mismatches[0]?.Offset ?? '?'})`);
    if (c.Consistent === null) problems.push(`the copy on ${h} could not be judged: ${c.Note ?? ''}`);
    copies.push(c);
  }
  // The newest copy: the running one, else the stopped copy furthest along the current history.
  const reference = copies.find((c) => c.Running) ?? copies.filter((c) => c.OnCurrentHistory === true).sort((a, b) => (b.PrefixSeq ?? -1) - (a.PrefixSeq ?? -1))[0];
  const allWrites = runs.flatMap((r) => r.writes.map((w) => writeKey(r, w)));
  const held = reference?.held ?? new Set<string>();
  const lost = allWrites.filter((w) => !held.has(w)).length;
  return {
    Module: m.Name,
    VmId: m.VmId,
    DefaultPrimary: m.DefaultPrimary,
    RunningOn: runningOn,
    WritesMade: allWrites.length,
    WritesLost: lost,
    WritesLostSeconds: m.Writer.RatePerSecond > 0 ? lost / m.Writer.RatePerSecond : null,
    Runs: runs.map((r) => ({ Host: r.host, Boot: r.boot, FirstSeq: r.firstSeq, LastSeq: r.lastSeq, Writes: r.writes.length })),
    Copies: copies.map(({ held: _held, ...c }) => c),
    Problems: problems,
  };
}

/** Judges every VM of the lab; `stopped`: the lab was stopped, so no VM may run. */
export async function verifyLab(dir: string, o: { stopped?: boolean } = {}): Promise<LabVerifyOutput> {
  const lab = await readLab(dir);
  const p = labPaths(lab.Directory);
  const sim = require('../hypervisor/simulated') as Sim;
  const running = {} as Record<LabHostName, Set<string>>;
  for (const h of LAB_HOSTS) running[h] = new Set((await sim.simulatedVmPids(p.host(h).simDir)).map((x) => x.vmId));
  const vms: VmReport[] = [];
  for (const m of lab.Modules) vms.push(await verifyVm(sim, p, m, running, o.stopped === true));
  const problems = vms.flatMap((v) => v.Problems);
  return { Directory: p.dir, Ok: problems.length === 0, Vms: vms, Problems: problems };
}
