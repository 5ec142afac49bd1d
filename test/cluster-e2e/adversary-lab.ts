import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { callAgent } from '../../src/agent/control/client';
import { StatusDocument } from '../../src/agent/control/documents';
import { controlEndpoint } from '../../src/agent/control/endpoint';
import { crashSimulatedHost } from '../../src/hypervisor/simulated';
import { LabFile, LabVerifyOutput, type LabHostName } from '../../src/lab/schema';
import { vmmirror } from '../cli/vmmirror-process';
import { tempDir } from '../helpers/tmp';
import { EpochWatch } from './adversary-epochs';
import { RunSampler } from './sampler';

// The stranger's lab: `vmmirror lab create/start/crash/verify` run as a user would (the CLI in a
// child process, loopback addresses), a sampler of where each VM runs (the simulated hosts' own
// processes, never what the agents say), a watch of the epochs both agents report, and the few
// sharper tools the adversarial tests need: a SIGKILL at an exact instant (the pid file's pid,
// checked against its command line, as `lab crash` does, without the CLI's start-up delay in
// between) and a wait on a line of a lab process's log.

export type LabProcessName = 'witness' | `${LabHostName}-agent` | `${LabHostName}-guard`;

export interface AdversaryLab {
  dir: string;
  lab: LabFile;
  sampler: RunSampler;
  epochs: EpochWatch;
  cli(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** `vmmirror lab start <dir> [target]`; throws unless it exits 0. */
  start(target?: LabHostName | 'witness'): Promise<void>;
  /** `vmmirror lab crash <dir> <target> [--agent-only]`. */
  crash(target: LabHostName | 'witness', agentOnly?: boolean): Promise<void>;
  /** The pid of a running lab process (its pid file, checked against its command line). */
  pidOf(name: LabProcessName): Promise<number>;
  /** SIGKILL of one lab process now (its pid file, checked); returns performance.now() of the kill. */
  killNow(name: LabProcessName): Promise<number>;
  /** `vmmirror lab verify <dir> --json`. */
  verify(): Promise<LabVerifyOutput>;
  status(h: LabHostName): Promise<StatusDocument>;
  states(h: LabHostName): Promise<Record<string, string | null>>;
  logFile(name: LabProcessName): string;
  /** Log lines of a process (JSON), the ones with `event` when given. */
  logLines(name: LabProcessName, event?: string): Promise<Array<Record<string, unknown>>>;
  /**
   * Resolves with the first log line of `event` that satisfies `pred` and was logged at or after
   * `sinceWallMs` (the log's wall-clock `time`; default: lines that appear from now on), polled every 20 ms.
   */
  waitLog(name: LabProcessName, event: string, pred: (l: Record<string, unknown>) => boolean, timeoutMs: number, sinceWallMs?: number): Promise<Record<string, unknown>>;
  vmOf(module: string): string;
  simDir(h: LabHostName): string;
  dataDir(h: LabHostName): string;
  configDir(h: LabHostName): string;
  cleanup(): Promise<void>;
}

/** Creates a loopback lab through the CLI (not started) with the given agent settings on both hosts. */
export async function adversaryLab(o: { seed: number; vms?: number; diskMib?: number; agent?: Record<string, unknown> }): Promise<AdversaryLab> {
  const t = await tempDir('vmmirror-adv-');
  const dir = join(t.dir, 'lab');
  const cli = (args: string[]) => vmmirror(args);
  const made = await cli(['lab', 'create', dir, '--json', '--vms', String(o.vms ?? 2), '--disk-mib', String(o.diskMib ?? 8), '--seed', String(o.seed)]);
  if (made.exitCode !== 0) throw new Error(`lab create exited ${made.exitCode}: ${made.stdout}${made.stderr}`);
  const lab = LabFile.parse(JSON.parse(made.stdout));
  const host = (h: LabHostName) => lab.Hosts.find((x) => x.Name === h)!;
  for (const h of lab.Hosts) {
    const path = join(h.ConfigDirectory, 'cluster.json');
    const doc = JSON.parse(await readFile(path, 'utf8')) as { Agent: Record<string, unknown> };
    Object.assign(doc.Agent, o.agent ?? {});
    await writeFile(path, `${JSON.stringify(doc, null, 2)}\n`);
  }
  const sampler = new RunSampler(lab.Hosts.map((h) => ({ name: h.Name, simDir: h.SimDirectory })));
  const logFile = (name: LabProcessName) => join(dir, 'logs', `${name}.log`);
  const a: AdversaryLab = {
    dir,
    lab,
    sampler,
    epochs: undefined as unknown as EpochWatch,
    cli,
    async start(target) {
      const r = await cli(['lab', 'start', dir, ...(target === undefined ? [] : [target])]);
      if (r.exitCode !== 0) throw new Error(`lab start ${target ?? ''} exited ${r.exitCode}: ${r.stdout}${r.stderr}`);
    },
    async crash(target, agentOnly = false) {
      const r = await cli(['lab', 'crash', dir, target, ...(agentOnly ? ['--agent-only'] : [])]);
      if (r.exitCode !== 0) throw new Error(`lab crash ${target} exited ${r.exitCode}: ${r.stdout}${r.stderr}`);
    },
    async pidOf(name) {
      const rec = JSON.parse(await readFile(join(dir, 'run', `${name}.pid`), 'utf8')) as { Pid: number; Markers: string[] };
      const argv = (await readFile(`/proc/${rec.Pid}/cmdline`, 'utf8')).split('\0');
      if (!rec.Markers.every((m) => argv.includes(m))) throw new Error(`${name}: pid ${rec.Pid} no longer runs the lab's process`);
      return rec.Pid;
    },
    async killNow(name) {
      const pid = await a.pidOf(name);
      const at = performance.now();
      process.kill(pid, 'SIGKILL');
      while (await readFile(`/proc/${pid}/stat`, 'utf8').then((s) => !/\) [ZX] /.test(s), () => false)) await sleep(10);
      return at;
    },
    async verify() {
      const r = await cli(['lab', 'verify', dir, '--json']);
      return LabVerifyOutput.parse(JSON.parse(r.stdout));
    },
    async status(h) {
      return StatusDocument.parse(await callAgent({ ...(await controlEndpoint(host(h).ConfigDirectory)), timeoutMs: 3000 }, 'GET', '/v1/status'));
    },
    async states(h) {
      return Object.fromEntries((await a.status(h)).Modules.map((m) => [m.Name, m.State]));
    },
    logFile,
    async logLines(name, event) {
      const text = await readFile(logFile(name), 'utf8').catch(() => '');
      const out: Array<Record<string, unknown>> = [];
      for (const line of text.split('\n')) {
        if (event !== undefined && !line.includes(`"event":"${event}"`)) continue;
        try {
          out.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // a line torn by a SIGKILL, or not JSON
        }
      }
      return out;
    },
    async waitLog(name, event, pred, timeoutMs, sinceWallMs) {
      const skip = sinceWallMs === undefined ? (await a.logLines(name, event)).filter(pred).length : 0;
      const fresh = (l: Record<string, unknown>) => sinceWallMs === undefined || (typeof l.time === 'number' && l.time >= sinceWallMs);
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const hit = (await a.logLines(name, event)).filter((l) => fresh(l) && pred(l))[skip];
        if (hit !== undefined) return hit;
        if (performance.now() > deadline) throw new Error(`no new ${event} line in ${name}'s log within ${timeoutMs} ms`);
        await sleep(20);
      }
    },
    vmOf: (module) => lab.Modules.find((m) => m.Name === module)!.VmId,
    simDir: (h) => host(h).SimDirectory,
    dataDir: (h) => host(h).DataDirectory,
    configDir: (h) => host(h).ConfigDirectory,
    async cleanup() {
      await sampler.stop();
      a.epochs.stop();
      for (const target of ['hva', 'hvb', 'witness'] as const) await cli(['lab', 'crash', dir, target]).catch(() => undefined);
      for (const h of lab.Hosts) await crashSimulatedHost(h.SimDirectory).catch(() => undefined);
      if (process.env.VMMIRROR_KEEP_TEST_DIRS === undefined) await t.cleanup();
      else process.stderr.write(`      kept ${t.dir}\n`);
    },
  };
  a.epochs = new EpochWatch((h) => a.status(h), lab.Modules.map((m) => m.Name));
  return a;
}

/** Waits for a sample in which every VM runs on exactly the host named; returns its instant. */
export async function waitRunning(a: AdversaryLab, placement: Record<string, LabHostName>, what: string, timeoutMs: number): Promise<number> {
  const s = await a.sampler.waitFor(what, (x) => Object.entries(placement).every(([module, h]) => (x.running.get(a.vmOf(module)) ?? []).join() === h), timeoutMs);
  return s.at;
}

/** Waits until both agents agree every module is PRIM on its default primary and SECOND on the other host. */
export async function waitSteady(a: AdversaryLab, what: string, timeoutMs: number): Promise<void> {
  await waitRunning(a, Object.fromEntries(a.lab.Modules.map((m) => [m.Name, m.DefaultPrimary])), `${what}: every VM on its default primary`, timeoutMs);
  const deadline = performance.now() + timeoutMs;
  let last = '';
  for (;;) {
    const [x, y] = await Promise.all([a.states('hva').catch(() => ({})), a.states('hvb').catch(() => ({}))]);
    const states: Record<LabHostName, Record<string, string | null>> = { hva: x, hvb: y };
    if (a.lab.Modules.every((m) => states[m.DefaultPrimary][m.Name] === 'PRIM' && states[m.DefaultPrimary === 'hva' ? 'hvb' : 'hva'][m.Name] === 'SECOND')) return;
    last = JSON.stringify(states);
    if (performance.now() > deadline) throw new Error(`${what}: not PRIM/SECOND everywhere after ${timeoutMs} ms: ${last}`);
    await sleep(250);
  }
}

/** What every experiment ends with: no sample (since `since`) with a VM on both hosts, epochs only grew, `lab verify` ok. */
export async function expectSafe(a: AdversaryLab, what: string, since = 0): Promise<LabVerifyOutput> {
  const overlaps = a.sampler.overlaps().filter((o) => o.at >= since);
  expect(overlaps.map((o) => `${o.vmId.slice(0, 8)} on ${o.hosts.join('+')} at ${o.at.toFixed(0)}`), `${what}: samples with a VM on both hosts`).to.deep.equal([]);
  expect(a.sampler.maxGapMs(since), `${what}: longest gap between two samples (ms)`).to.be.below(1000);
  expect(a.epochs.decreases(), `${what}: an epoch went down`).to.deep.equal([]);
  const v = await a.verify();
  expect(v.Problems, `${what}: lab verify`).to.deep.equal([]);
  expect(v.Ok, `${what}: lab verify Ok`).to.equal(true);
  return v;
}

/** Waits until every module's replica host holds a replicated generation (a takeover needs one: generation 0 is never started). */
export async function waitReplicatedOnce(a: AdversaryLab, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const held = await Promise.all(a.lab.Modules.map(async (m) => ((await a.status(m.DefaultPrimary === 'hva' ? 'hvb' : 'hva').catch(() => null))?.Modules.find((x) => x.Name === m.Name)?.LocalGeneration ?? 0) >= 1));
    if (held.every(Boolean)) return;
    if (performance.now() > deadline) throw new Error(`not every module was replicated once within ${timeoutMs} ms`);
    await sleep(250);
  }
}

/** The lab every adversarial file starts from: running, sampled, steady, each replica holding a generation. */
export async function steadyAdversaryLab(seed: number): Promise<AdversaryLab> {
  const a = await adversaryLab({ seed, agent: { FailbackStableSeconds: 2 } });
  a.sampler.start();
  await a.start();
  a.epochs.start();
  await waitSteady(a, 'lab start', 90_000);
  await waitReplicatedOnce(a, 30_000);
  return a;
}
