import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { InstallTaskOutput, UninstallTaskOutput } from '../../src/hypervisor/hyperv/task-scheduler';
import { run } from '../../src/util/exec';
import { makeConfig } from '../config/fixture';
import { pwshPath, repoRoot } from '../hypervisor/hyperv/pwsh';
import { tempDir } from '../helpers/tmp';
import { cliNodeArgs } from './vmmirror-process';

// `vmmirror install-task` / `uninstall-task` end to end: the CLI in its own process, its own
// PowerShell session, the real ps/ scripts, the mock ScheduledTasks module recording what was
// registered (test/ps/task/ScheduledTask.Tests.ps1 checks the scripts field by field).

const mockManifest = join(repoRoot, 'test', 'ps', 'mock-scheduledtasks', 'ScheduledTasks.psd1');
const Recorded = z.object({
  Tasks: z.record(
    z.string(),
    z.object({
      Actions: z.array(z.object({ Execute: z.string(), Arguments: z.string(), WorkingDirectory: z.string() })),
      Settings: z.object({ ExecutionTimeLimit: z.string(), MultipleInstances: z.string() }),
      Principal: z.object({ UserId: z.string(), LogonType: z.string(), RunLevel: z.string() }),
    }),
  ),
  Calls: z.array(z.object({ Cmdlet: z.string() })),
});

/** The Windows command-line form of one argument (no backslashes here: quotes become \"). */
function quoted(arg: string): string {
  expect(arg).not.to.contain('\\');
  return `"${arg.replace(/"/g, '\\"')}"`;
}

describe('cli/commands/task (install-task, uninstall-task on the mock ScheduledTasks module)', function () {
  this.timeout(120_000);
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let configDir: string;
  let stateFile: string;
  let canary: string;

  before(async () => {
    tmp = await tempDir('vmmirror-task-cli-');
    canary = join(tmp.dir, 'canary');
    // A config folder whose path holds quotes and a PowerShell subexpression that would create the
    // canary if anything evaluated it (its slashes make it a few nested folders): it must stay data.
    configDir = join(tmp.dir, `cfg "q" $(New-Item -ItemType File -Path '${canary}') 'x'`);
    await mkdir(configDir, { recursive: true });
    await makeConfig(configDir);
    stateFile = join(tmp.dir, 'tasks.json');
  });
  after(async () => tmp?.cleanup());

  async function cli(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    return run(process.execPath, cliNodeArgs([...args, '--json']), {
      env: { ...process.env, VMMIRROR_LOG_LEVEL: 'warn', MOCK_SCHEDULEDTASKS_STATE: stateFile },
      timeoutMs: 110_000,
    });
  }
  const withMock = ['--powershell', pwshPath(), '--import-module', mockManifest];
  const recorded = async () => Recorded.parse(JSON.parse(await readFile(stateFile, 'utf8')));

  it('registers the agent and the guard for this node, this CLI and the config folder, then changes nothing on a second run', async () => {
    const first = await cli(['install-task', '--dir', configDir, ...withMock]);
    expect(first.exitCode, `stdout: ${first.stdout}\nstderr: ${first.stderr}`).to.equal(0);
    expect(first.stdout.trim().split('\n'), 'one JSON document on stdout').to.have.length(1);
    const out = InstallTaskOutput.parse(JSON.parse(first.stdout));
    expect(out.Changed).to.equal(true);
    expect(out.Tasks.map((t) => [t.TaskName, t.Action])).to.deep.equal([['vmmirror-agent', 'Created'], ['vmmirror-guard', 'Created']]);
    const cliPath = join(repoRoot, 'bin', 'vmmirror.js');
    const rec = await recorded();
    for (const [name, verb] of [['vmmirror-agent', 'agent'], ['vmmirror-guard', 'guard']] as const) {
      const task = rec.Tasks[`\\vmmirror\\${name}`];
      expect(task, name).to.not.equal(undefined);
      expect(task!.Actions).to.deep.equal([{ Execute: process.execPath, Arguments: `${quoted(cliPath)} ${verb} --dir ${quoted(configDir)}`, WorkingDirectory: repoRoot }]);
      expect(task!.Settings).to.deep.equal({ ExecutionTimeLimit: 'PT0S', MultipleInstances: 'IgnoreNew' });
      expect(task!.Principal).to.deep.equal({ UserId: 'SYSTEM', LogonType: 'ServiceAccount', RunLevel: 'Highest' });
    }
    expect(existsSync(canary), 'the $(...) in the path never ran').to.equal(false);

    const second = await cli(['install-task', '--dir', configDir, ...withMock]);
    expect(second.exitCode, second.stderr).to.equal(0);
    const again = InstallTaskOutput.parse(JSON.parse(second.stdout));
    expect(again.Changed).to.equal(false);
    expect(again.Tasks.map((t) => t.Action)).to.deep.equal(['Unchanged', 'Unchanged']);
    expect((await recorded()).Calls.filter((c) => c.Cmdlet === 'Register-ScheduledTask')).to.have.length(2);
  });

  it('uninstalls both tasks', async () => {
    const r = await cli(['uninstall-task', ...withMock]);
    expect(r.exitCode, r.stderr).to.equal(0);
    const out = UninstallTaskOutput.parse(JSON.parse(r.stdout));
    expect(out.Tasks.map((t) => [t.TaskName, t.Found, t.Removed])).to.deep.equal([['vmmirror-agent', true, true], ['vmmirror-guard', true, true]]);
    expect(Object.keys((await recorded()).Tasks)).to.deep.equal([]);
  });

  it('off Windows without --powershell: TASK_SCHEDULER_UNAVAILABLE (exit 6), nothing registered', async function () {
    if (process.platform === 'win32') this.skip(); // on Windows the ScheduledTasks module exists: the refusal under test cannot happen
    const r = await cli(['install-task', '--dir', configDir]);
    expect(r.exitCode).to.equal(6);
    expect(JSON.parse(r.stdout)).to.have.nested.property('Error.Code', 'TASK_SCHEDULER_UNAVAILABLE');
    if (existsSync(stateFile)) expect(Object.keys((await recorded()).Tasks)).to.deep.equal([]);
  });
});
