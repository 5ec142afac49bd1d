import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { DemoReport } from '../../src/demo/schema';
import { cliNodeArgs } from '../cli/vmmirror-process';
import { powerShellContractProblems } from '../cli/json-contract-pwsh';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';

// `vmmirror demo --json` as its own process, as a user runs it: the report's figures are checked
// against what must have happened (every VM of the killed host ran on the survivor and came back,
// every copy equal by both judges), stdout holds one JSON document, and nothing stays behind. A
// second run is interrupted with SIGINT mid-way: every process of the demo must be gone and its
// folder removed. The most expensive test of the suite: 2 VMs keep it to about a minute.

interface Run {
  child: ReturnType<typeof spawn>;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
  /** Resolves once stderr has a line matching `re`. */
  line(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
}

function startDemo(args: string[]): Run {
  const child = spawn(process.execPath, cliNodeArgs(['demo', ...args]), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, VMMIRROR_LOG_LEVEL: 'warn' } });
  let out = '';
  let err = '';
  const waiters: Array<() => void> = [];
  child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString('utf8');
    for (const w of waiters.splice(0)) w();
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child, stdout: () => out, stderr: () => err, exit,
    async line(re, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = err.match(re);
        if (m !== null) return m;
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no stderr line matching ${re} (exit ${child.exitCode}); stderr:\n${err.slice(-3000)}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 1000);
        });
      }
    },
  };
}

/** Pids of live processes whose command line names `path` (the demo's agents, guards, witness and VMs do). */
function processesNaming(path: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmd.includes(path)) out.push(Number(e));
  }
  return out;
}

describe('vmmirror demo (a whole lab scenario as its own process)', function () {
  this.timeout(300_000);

  it('--json: every VM of the killed host ran on the survivor and came back, every copy equal; one JSON document; nothing left', async () => {
    const { seed } = seeded('demo --json');
    process.stderr.write(`      seed ${seed}\n`);
    const t0 = Date.now();
    const r = startDemo(['--json', '--vms', '2', '--seed', String(seed)]);
    const root = (await r.line(/vmmirror demo in (\S+) \(seed/, 60_000))[1]!;
    const code = await r.exit;
    process.stderr.write(`      demo took ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    expect(code, r.stderr().slice(-3000)).to.equal(0);
    const lines = r.stdout().split('\n').filter((l) => l.length > 0);
    expect(lines, 'stdout holds exactly one JSON document on one line').to.have.length(1);
    const report = DemoReport.parse(JSON.parse(lines[0]!));
    const work = await tempDir('vmmirror-demo-pwsh-');
    try {
      expect(await powerShellContractProblems(work.dir, 'demo', 'success', lines[0]!), 'the document as real pwsh reads it, against its JSON Schema').to.deep.equal([]);
    } finally {
      await work.cleanup();
    }
    expect(report.Ok, report.Problems.join('; ')).to.equal(true);
    expect(report.Seed).to.equal(seed);
    expect(report.Vms).to.have.length(2);
    const killed = report.Vms.filter((v) => v.OnKilledHost);
    expect(killed.length, 'the killed host ran at least one VM').to.be.greaterThan(0);
    for (const v of killed) {
      expect(v.DefaultPrimary).to.equal(report.KilledHost);
      expect(v.RanOnSurvivor, `${v.Module} ran on ${report.Survivor}`).to.equal(true);
      // The survivor waits out the peer-loss timeout before it may start anything (C1).
      expect(v.KillToRunningMs!, `${v.Module} kill-to-running`).to.be.greaterThan(report.Settings.PeerLossTimeoutMs * 0.5).and.lessThan(60_000);
      expect(v.CameBack, `${v.Module} came back to ${report.KilledHost}`).to.equal(true);
      expect(v.FailbackDowntimeMs!).to.be.greaterThan(0);
      expect(v.ResyncBytes!, `${v.Module} resync sent some bytes, at most the disk`).to.be.greaterThan(0).and.at.most(v.ResyncDiskBytes!);
      expect(v.WritesLost).to.be.a('number');
    }
    const moved = report.Vms.filter((v) => v.PlannedFailover !== null);
    expect(moved).to.have.length(1);
    expect(moved[0]!.PlannedFailover!.WritesLost, 'a planned failover loses nothing').to.equal(0);
    expect(moved[0]!.PlannedFailover!.DowntimeMs).to.be.greaterThan(0);
    expect(report.JudgedBy).to.deep.equal(['pattern-verifier', 'qemu-img compare']);
    for (const v of report.Vms) {
      expect(v.Verification.QemuImgCompare, `${v.Module}: qemu-img compare of its two copies`).to.equal('identical');
      expect(v.Verification.PatternEqual, `${v.Module}: both copies hold the same write`).to.equal(true);
      expect(v.Verification.Copies.map((c) => c.PrefixSeq)[0]!, `${v.Module}: the copies hold the guest's writes`).to.be.greaterThan(0);
    }
    expect(existsSync(root), `${root} removed`).to.equal(false);
    expect(processesNaming(root), 'processes of the demo still running').to.deep.equal([]);
  });

  it('SIGINT mid-run: every process of the demo is gone and its folder removed; --json prints one CANCELLED document', async () => {
    const { seed } = seeded('demo SIGINT');
    process.stderr.write(`      seed ${seed}\n`);
    const r = startDemo(['--json', '--vms', '2', '--seed', String(seed)]);
    const root = (await r.line(/vmmirror demo in (\S+) \(seed/, 60_000))[1]!;
    // Mid-run: the agents, guards, witness and VMs all run once the first replication is awaited.
    await r.line(/== wait for every VM/, 120_000);
    await r.line(/VM started on/, 120_000);
    const before = processesNaming(root);
    expect(before.length, 'the demo runs processes that name its folder (the check below can fail)').to.be.at.least(5);
    r.child.kill('SIGINT');
    const code = await r.exit;
    expect(code, r.stderr().slice(-2000)).to.equal(130);
    const lines = r.stdout().split('\n').filter((l) => l.length > 0);
    expect(lines).to.have.length(1);
    expect((JSON.parse(lines[0]!) as { Error: { Code: string } }).Error.Code).to.equal('CANCELLED');
    const work = await tempDir('vmmirror-demo-pwsh-');
    try {
      expect(await powerShellContractProblems(work.dir, 'demo', 'error', lines[0]!)).to.deep.equal([]);
    } finally {
      await work.cleanup();
    }
    expect(existsSync(root), `${root} removed`).to.equal(false);
    expect(processesNaming(root), 'processes of the demo still running').to.deep.equal([]);
    for (const pid of before) expect(existsSync(`/proc/${pid}`) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(root), `pid ${pid} gone`).to.equal(false);
  });
});
