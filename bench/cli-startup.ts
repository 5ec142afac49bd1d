import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

// CLI start-up: CPU time (user + system) of the frequent commands against a bare `node -e 0` in the
// same run, as ratios (issue 10/11 target: under 2x). Each child reports its own whole-process
// CPU at exit (process.cpuUsage() counts from process start, bootstrap included) through a -r
// preload, which every measured command, the anchor too, carries. The median of interleaved runs
// is reported, so a burst of load on a shared machine moves every row alike.
// Also measured: node + require('zod') alone, the floor under any command that validates a file.

const ROOT = resolve(__dirname, '..');

export interface CliStartupRow {
  name: string;
  medianCpuMs: number;
  ratioToNode: number;
}
export interface CliStartupResult {
  runs: number;
  cli: string;
  nodeCpuMs: number;
  rows: CliStartupRow[];
}

const REPORTER = `'use strict';
process.on('exit', () => { const u = process.cpuUsage(); require('node:fs').writeFileSync(process.env.BENCH_CPU_OUT, String((u.user + u.system) / 1000)); });
`;

function cpuOnce(work: string, args: string[], expectExit: number): number {
  const out = join(work, 'cpu.txt');
  const r = spawnSync(process.execPath, ['-r', join(work, 'cpu-reporter.js'), ...args], { env: { ...process.env, BENCH_CPU_OUT: out }, encoding: 'utf8', cwd: work });
  if (r.status !== expectExit) throw new Error(`${args.join(' ')}: exit ${r.status}, expected ${expectExit}: ${r.stderr}`);
  return Number(readFileSync(out, 'utf8'));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** A valid two-host config made by the CLI itself (init on both, the peer's fingerprint pasted, one module), whose agent is not running. */
function validConfig(cli: string, work: string): string {
  const init = (host: string, dir: string): { CertificateFingerprint: string } => {
    const r = spawnSync(process.execPath, [cli, 'init', '--host', host, '--address', '127.0.0.1', '--dir', dir, '--json'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`init ${host}: ${r.stdout}${r.stderr}`);
    return JSON.parse(r.stdout) as { CertificateFingerprint: string };
  };
  const dir = join(work, 'hv1');
  const self = init('hv1', dir);
  const peer = init('hv2', join(work, 'hv2'));
  const cluster = {
    ClusterName: 'bench',
    Hosts: [
      { Name: 'hv1', Address: '127.0.0.1', Port: 7420, CertificateFingerprint: self.CertificateFingerprint },
      { Name: 'hv2', Address: '127.0.0.2', Port: 7420, CertificateFingerprint: peer.CertificateFingerprint },
    ],
    DataDirectory: 'data',
    // A socket path that nothing listens on: status fails with AGENT_UNREACHABLE, whatever runs on this machine's ports.
    Agent: { ControlSocket: join(work, 'no-agent.sock') },
    Hypervisor: { Driver: 'simulated' },
  };
  writeFileSync(join(dir, 'cluster.json'), JSON.stringify(cluster, null, 2));
  mkdirSync(join(dir, 'modules'), { recursive: true });
  writeFileSync(join(dir, 'modules', 'web1.json'), JSON.stringify({ Name: 'web1', VmName: 'WEB1', DefaultPrimary: 'hv1', Disks: [{ Path: '/vms/web1/disk0.vhdx' }], Replication: { Interval: 30 } }));
  return dir;
}

/** Measures; `cli` is the compiled main (default dist/cli/main.js, which `npm run bench` builds first). */
export function benchCliStartup(opts: { runs?: number; cli?: string; log?: (s: string) => void } = {}): CliStartupResult {
  const runs = opts.runs ?? 15;
  const cli = resolve(opts.cli ?? process.env.BENCH_CLI_MAIN ?? join(ROOT, 'dist', 'cli', 'main.js'));
  const work = mkdtempSync(join(tmpdir(), 'vmmirror-bench-cli-'));
  try {
    writeFileSync(join(work, 'cpu-reporter.js'), REPORTER);
    const dir = validConfig(cli, work);
    const cases: Array<{ name: string; args: string[]; exit: number }> = [
      { name: 'node -e 0 (anchor)', args: ['-e', '0'], exit: 0 },
      { name: "node -e \"require('zod')\" (floor of a validating command)", args: ['-e', `require(${JSON.stringify(require.resolve('zod'))})`], exit: 0 },
      { name: 'vmmirror --help', args: [cli, '--help'], exit: 0 },
      { name: 'vmmirror status (no agent: AGENT_UNREACHABLE)', args: [cli, 'status', '--dir', dir], exit: 7 },
      { name: 'vmmirror config validate (valid config)', args: [cli, 'config', 'validate', '--dir', dir], exit: 0 },
    ];
    const samples = cases.map(() => [] as number[]);
    for (let i = 0; i < runs; i++) cases.forEach((c, j) => samples[j].push(cpuOnce(work, c.args, c.exit)));
    const nodeCpuMs = median(samples[0]);
    const rows = cases.map((c, j) => ({ name: c.name, medianCpuMs: median(samples[j]), ratioToNode: median(samples[j]) / nodeCpuMs }));
    opts.log?.(`cli start-up: ${runs} interleaved runs of each, ${cli}`);
    return { runs, cli, nodeCpuMs, rows };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const r = benchCliStartup({ runs: Number(process.env.BENCH_CLI_RUNS ?? '15'), log: (s) => void process.stderr.write(`bench: ${s}\n`) });
  const w = Math.max(...r.rows.map((x) => x.name.length));
  process.stdout.write(`\nCLI start-up CPU (user+sys, median of ${r.runs})\n`);
  for (const x of r.rows) process.stdout.write(`  ${x.name.padEnd(w)}  ${x.medianCpuMs.toFixed(1).padStart(6)} ms  ${x.ratioToNode.toFixed(2)}x node${x.name.startsWith('vmmirror') ? ' (target < 2)' : ''}\n`);
}
