import { expect } from 'chai';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { callAgent } from '../../src/agent/control/client';
import { controlEndpoint } from '../../src/agent/control/endpoint';
import { StatusDocument } from '../../src/agent/control/documents';
import { outputSchemaFileName, outputSchemas } from '../../src/cli/output-schemas';
import { guardDir } from '../../src/guard/lease-file';
import { crashSimulatedHost } from '../../src/hypervisor/simulated';
import { labPaths } from '../../src/lab/layout';
import { endProcesses } from '../../src/lab/processes';
import { LabFile } from '../../src/lab/schema';
import { makeConfig } from '../config/fixture';
import { pwshPath, repoRoot } from '../hypervisor/hyperv/pwsh';
import { createVhdx, qemuWrite } from '../helpers/qemu';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';
import { contractProblems } from './json-contract-check';
import { judgeInPwsh } from './json-contract-pwsh';
import { capture, captureInProcess, captureUntilSignal, type Captured } from './json-contract-run';

// The JSON contract (DESIGN section 9, docs/output.md), proved in PowerShell: every registered
// command is run for real, once to success and once to an error, with --json; each run must print
// exactly one document on stdout (json-contract-run.ts); then real pwsh reads every document with
// ConvertFrom-Json and Test-Json against docs/schema/output/ (json-contract-pwsh.ts), and what
// PowerShell made of each value is judged against the schema (json-contract-check.ts).

const SCHEMA_DIR = join(repoRoot, 'docs', 'schema', 'output');

/**
 * Commands whose success document this test does not produce, each with the reason and where it is
 * proved instead (their error document is still judged here). Keep it short: each entry is a gap.
 */
const SUCCESS_PROVED_ELSEWHERE: Record<string, string> = {
  demo: 'a whole demo takes about a minute; test/demo/demo.test.ts drives `vmmirror demo --json` (powerShellContractProblems in json-contract-pwsh.ts judges such a document the same way)',
};
const MIB = 1024 * 1024;

/** Polls a real condition (the agent's own status), never a fixed pause. */
async function waitFor(condition: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(200);
  }
}

describe('the --json contract in real PowerShell (every command, success and error)', function () {
  this.timeout(300_000);
  const rng = seeded('json contract');
  const captured: Captured[] = [];
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let labDir: string | undefined;
  const keep = (cs: Captured[]): void => void captured.push(...cs);
  let labCreation: Promise<Captured> | undefined;
  const createLab = (): Promise<Captured> => {
    labDir = join(tmp.dir, 'lab');
    return capture('lab create', 'success', ['lab', 'create', labDir, '--vms', '1', '--interval', '1', '--disk-mib', '8', '--seed', String(rng.seed)], [0]);
  };

  before(async () => {
    process.stderr.write(`      json contract seed ${rng.seed}\n`);
    tmp = await tempDir('vmmirror-json-contract-');
  });
  after(async () => {
    // The lab's own code ends whatever a failed test left running (the lab tests do the same).
    if (labDir !== undefined) {
      const p = labPaths(labDir);
      await endProcesses(p, ['hva-agent', 'hva-guard', 'hvb-agent', 'hvb-guard', 'witness'], 'kill').catch(() => undefined);
      for (const h of ['hva', 'hvb'] as const) await crashSimulatedHost(p.host(h).simDir).catch(() => undefined);
    }
    await tmp?.cleanup();
  });

  // Child processes (`capture`) where the process matters: the stdout rule with logs on, a
  // command's own environment, the lab's user path. Everything else runs in this process
  // (`captureInProcess`, the same runCli), one at a time, to keep the suite's CPU small.
  it('local commands: init, config validate, replicate, verify, replica reset, witness init, selftest, tasks, and their refusals', async () => {
    const d = tmp.dir;
    const source = join(d, 'src', 'd.vhdx');
    await mkdir(join(d, 'src'), { recursive: true });
    await createVhdx(source, { sizeBytes: 8 * MIB, subformat: 'dynamic' });
    await qemuWrite(source, rng.int(0, 63) * 65536, 65536, rng.int(1, 255));
    const [cfg, empty, rep, tasksCfg] = ['cfg', 'empty', 'rep', 'tasks-cfg'].map((n) => join(d, n)) as [string, string, string, string];
    await makeConfig(tasksCfg);
    const mockHyperV = ['--powershell', pwshPath(), '--import-module', join(repoRoot, 'test', 'hypervisor', 'mock-hyperv', 'Hyper-V.psd1')];
    const mockTasks = ['--powershell', pwshPath(), '--import-module', join(repoRoot, 'test', 'ps', 'mock-scheduledtasks', 'ScheduledTasks.psd1')];
    // The lab for the next test is made meanwhile: a child process that mostly waits.
    labCreation = createLab();
    const children = Promise.all([
      capture('install-task', 'success', ['install-task', '--dir', tasksCfg, '--what-if', ...mockTasks], [0], { MOCK_SCHEDULEDTASKS_STATE: join(d, 'tasks-1.json') }),
      capture('uninstall-task', 'success', ['uninstall-task', '--what-if', ...mockTasks], [0], { MOCK_SCHEDULEDTASKS_STATE: join(d, 'tasks-2.json') }),
      capture('config validate', 'success', ['config', 'validate', '--dir', tasksCfg], [0, 3]),
      capture('config validate', 'error', ['config', 'validate', '--dir', tasksCfg, '--no-such-option'], [2]),
      // No VM of that name on the mock host: a report (exit 1) whose FindVm step failed.
      capture('selftest hyperv', 'success', ['selftest', 'hyperv', '--vm', 'no such vm', '--work-dir', join(d, 'selftest'), '--change-wait-ms', '1000', ...mockHyperV], [1], { MOCK_HYPERV_STATE: join(d, 'mock-hv') }),
    ]);
    const inProcess: Array<Parameters<typeof captureInProcess>> = [
      ['init', 'success', ['init', '--host', 'hv1', '--address', '127.0.0.1', '--dir', cfg], [0]],
      ['init', 'error', ['init', '--dir', join(d, 'cfg2')], [2]],
      ['replicate', 'success', ['replicate', source, '--to', rep], [0]],
      ['replicate', 'error', ['replicate', join(d, 'no-such.vhdx'), '--to', join(d, 'rep2')], [5]],
      ['verify', 'success', ['verify', source, '--replica', rep], [0]],
      ['verify', 'error', ['verify', source], [2]],
      ['replica reset', 'success', ['replica', 'reset', rep], [0]],
      ['replica reset', 'error', ['replica', 'reset', join(d, 'no-such-replica')], [5]],
      ['witness init', 'success', ['witness', 'init', '--dir', join(d, 'wit'), '--address', '127.0.0.1'], [0]],
      ['witness init', 'error', ['witness', 'init', '--dir', join(d, 'wit'), '--address', '127.0.0.1'], [3]],
      ['witness run', 'error', ['witness', 'run', '--dir', empty], [3]],
      ['agent', 'error', ['agent', '--dir', empty], [3]],
      ['guard', 'error', ['guard', '--dir', empty], [3]],
      ['status', 'error', ['status', '--dir', empty], [3]],
      ['demo', 'error', ['demo', '--vms', 'many'], [2]],
      ['selftest hyperv', 'error', ['selftest', 'hyperv'], [2]],
      ['install-task', 'error', ['install-task', '--dir', empty, ...mockTasks], [3]],
      ['uninstall-task', 'error', ['uninstall-task', '--no-such-option'], [2]],
    ];
    for (const args of inProcess) keep([await captureInProcess(...args)]);
    keep(await children);
  });

  it('cluster commands against one small lab: lab create/start, status, sync, failover, failback, balance, drain, resume, lab verify/crash/stop, and their refusals', async () => {
    const created = await (labCreation ?? createLab());
    keep([created]);
    const lab = LabFile.parse(JSON.parse(created.stdout));
    const dir = labDir!;
    const hva = labPaths(dir).host('hva').configDir;
    const module = lab.Modules[0]!.Name;
    const elsewhere = join(tmp.dir, 'not-a-lab');
    keep([await capture('lab start', 'success', ['lab', 'start', dir], [0])]);
    // In process while the lab comes up: refusals that need no replica.
    for (const args of [
      ['lab create', 'error', ['lab', 'create', dir], [2, 3]],
      ['lab verify', 'error', ['lab', 'verify', elsewhere], [3]],
      ['lab crash', 'error', ['lab', 'crash', dir, 'no-such-host'], [2]],
      ['lab start', 'error', ['lab', 'start', elsewhere], [3]],
      ['lab stop', 'error', ['lab', 'stop', elsewhere], [3]],
      ['failover', 'error', ['failover', 'no-such-module', '--dir', hva], [2]],
      ['balance', 'error', ['balance', '--dir', hva, '--local-only'], [2]],
    ] as Array<Parameters<typeof captureInProcess>>) {
      keep([await captureInProcess(...args)]);
    }
    // The module is PRIM on hva with hvb SECOND and a first cycle done: commands can act on it.
    await waitFor(async () => {
      const m = StatusDocument.parse(await callAgent(await controlEndpoint(hva), 'GET', '/v1/status')).Modules[0]!;
      return m.State === 'PRIM' && m.PeerState === 'SECOND' && m.LastCycle !== null;
    });
    keep(await Promise.all([capture('status', 'success', ['status', '--dir', hva], [0]), capture('sync', 'success', ['sync', module, '--dir', hva], [0])]));
    keep([await captureInProcess('sync', 'error', ['sync', 'no-such-module', '--dir', hva], [2])]);
    keep([await captureInProcess('failback', 'error', ['failback', module, '--dir', hva], [7])]);
    keep([await captureInProcess('balance', 'success', ['balance', '--dir', hva], [0])]);
    // A real planned switchover (its Result has figures and a date), then the way home as a plan.
    keep([await capture('failover', 'success', ['failover', module, '--dir', hva], [0])]);
    keep([await captureInProcess('failback', 'success', ['failback', module, '--what-if', '--dir', hva], [0])]);
    // Maintenance: a drain of hvb (which now runs the VM) as a plan; resume of a host not drained.
    keep([await captureInProcess('drain', 'success', ['drain', 'hvb', '--what-if', '--dir', hva], [0])]);
    keep([await captureInProcess('drain', 'error', ['drain', 'no-such-host', '--dir', hva], [2])]);
    keep([await captureInProcess('resume', 'success', ['resume', 'hva', '--dir', hva], [0])]);
    keep([await captureInProcess('resume', 'error', ['resume', 'no-such-host', '--dir', hva], [2])]);
    keep([await captureInProcess('lab verify', 'success', ['lab', 'verify', dir], [0, 1])]);
    keep([await captureInProcess('lab crash', 'success', ['lab', 'crash', dir, 'witness'], [0])]);
    keep([await capture('lab stop', 'success', ['lab', 'stop', dir], [0])]);
  });

  it('long-running commands (agent, guard, witness run) print their document when stopped by SIGTERM', async () => {
    const p = labPaths(labDir!);
    const hvb = p.host('hvb');
    const endpoint = await controlEndpoint(hvb.configDir);
    const agentAnswers = (): Promise<boolean> => callAgent({ ...endpoint, timeoutMs: 2000 }, 'GET', '/v1/status').then(() => true, () => false);
    const guardWrote = async (_: string, pid: number): Promise<boolean> => {
      const text = await readFile(join(guardDir(p.host('hva').dataDir), 'guard.json'), 'utf8').catch(() => '{}');
      return (JSON.parse(text || '{}') as { Pid?: number }).Pid === pid;
    };
    keep(
      await Promise.all([
        captureUntilSignal('witness run', ['witness', 'run', '--dir', p.witnessDir], async (stderr) => stderr.includes('"event":"witness-listening"')),
        captureUntilSignal('agent', ['agent', '--dir', hvb.configDir], agentAnswers),
        captureUntilSignal('guard', ['guard', '--dir', p.host('hva').configDir], guardWrote),
      ]),
    );
  });

  it('every registered command was run to a success and to an error', () => {
    for (const e of outputSchemas) {
      for (const outcome of ['success', 'error'] as const) {
        if (outcome === 'success' && e.command in SUCCESS_PROVED_ELSEWHERE) continue;
        expect(captured.some((c) => c.command === e.command && c.outcome === outcome), `${e.command}: no ${outcome} case (add one to this file)`).to.equal(true);
      }
    }
  });

  it('PowerShell reads every document with the types its schema promises, and Test-Json accepts it', async () => {
    const docs = captured.map((c, i) => ({
      Name: `${i}: ${c.args.join(' ')} (${c.outcome})`,
      Text: c.stdout,
      SchemaFile: join(SCHEMA_DIR, c.outcome === 'error' ? 'error.schema.json' : outputSchemaFileName(c.command)),
    }));
    // A document that breaks its schema must be refused: the validator is not a rubber stamp.
    const broken = JSON.parse(captured.find((c) => c.command === 'status' && c.outcome === 'success')!.stdout) as Record<string, unknown>;
    delete broken.Hosts;
    docs.push({ Name: 'broken', Text: JSON.stringify({ ...broken, Extra: 1 }), SchemaFile: join(SCHEMA_DIR, 'status.schema.json') });
    const verdicts = await judgeInPwsh(tmp.dir, docs);
    expect(verdicts.map((v) => v.Name)).to.deep.equal(docs.map((d) => d.Name));
    const brokenVerdict = verdicts.pop()!;
    expect(brokenVerdict.Valid, 'Test-Json on a status document without Hosts').to.equal(false);
    const problems: string[] = [];
    const kinds = new Set<string>();
    for (const [i, v] of verdicts.entries()) {
      const schema = JSON.parse(await readFile(docs[i]!.SchemaFile, 'utf8')) as Record<string, unknown>;
      for (const p of contractProblems(v, docs[i]!.Text, schema)) problems.push(`${v.Name}: ${p}`);
      for (const value of v.Values) kinds.add(value.Kind === 'array' && value.Count === 1 ? 'array of one' : value.Kind);
    }
    expect(problems, problems.join('\n')).to.deep.equal([]);
    // The checks above saw each kind the contract speaks of (a run without dates would prove nothing).
    expect([...kinds]).to.include.members(['date', 'integer', 'boolean', 'null', 'string', 'object', 'array', 'array of one']);
  });
});
