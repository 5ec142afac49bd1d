import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadConfig } from '../../config';
import { configDir } from '../../config/paths';
import { HypervisorError, ReplicationError } from '../../errors';
import type { InstallTaskOutput, TaskRunnerOptions, UninstallTaskOutput } from '../../hypervisor/hyperv/task-scheduler';
import type { CommandOutcome } from '../command';
import { emit } from '../output';

// `vmmirror install-task` / `uninstall-task` (docs/agent.md, "Scheduled task"). The task runs this
// very node and this very CLI with the config folder resolved now, as absolute paths: SYSTEM at
// boot has neither this shell's PATH nor its VMMIRROR_CONFIG_DIR.

/** The repository (or installed package) root: three levels above src/cli/commands or dist/cli/commands. */
const packageRoot = resolve(__dirname, '..', '..', '..');

export interface InstallTaskOptions {
  dir?: string;
  whatIf?: boolean;
  powershell?: string;
  importModule?: string[];
}

export interface UninstallTaskOptions {
  whatIf?: boolean;
  powershell?: string;
  importModule?: string[];
}

function runnerOptions(opts: { powershell?: string; importModule?: string[] }): TaskRunnerOptions {
  const executable = opts.powershell ?? (process.platform === 'win32' ? 'powershell.exe' : undefined);
  if (executable === undefined) {
    throw new HypervisorError('TASK_SCHEDULER_UNAVAILABLE', `the scheduled task needs Windows Task Scheduler; this host runs ${process.platform} (use --powershell to try a PowerShell with the ScheduledTasks module)`);
  }
  return { executable, importModules: (opts.importModule ?? []).map((p) => resolve(p)) };
}

function taskLines(r: InstallTaskOutput): string[] {
  return r.Tasks.map((t) => {
    const what = r.WhatIf && t.Action !== 'Unchanged' ? `would be ${t.Action.toLowerCase()}` : t.Action.toLowerCase();
    const diff = t.Differences.length > 0 ? ` (${t.Differences.join(', ')})` : '';
    const running = t.State === 'Running' && t.Changed && !r.WhatIf ? '; it runs: the new definition applies from its next start' : '';
    const mismatch = t.ReadBackMismatch.length > 0 ? `; WARNING: reads back different: ${t.ReadBackMismatch.join(', ')}` : '';
    return `  ${t.TaskPath}${t.TaskName}: ${what}${diff}${running}${mismatch}\n    ${t.Definition.Actions.map((a) => `${a.Execute} ${a.Arguments}`).join('\n    ')}`;
  });
}

/** Registers or updates the agent and guard tasks (definitions/task.ts declares the command). */
export async function runInstallTask(opts: InstallTaskOptions): Promise<CommandOutcome> {
  const dir = configDir(opts.dir);
  // A task that points at a configuration the agent cannot load would fail at every boot: refuse now.
  await loadConfig(dir);
  const cliPath = resolve(packageRoot, 'bin', 'vmmirror.js');
  if (!existsSync(cliPath)) throw new ReplicationError('FILE_NOT_FOUND', `the vmmirror CLI is not at ${cliPath}`);
  const runner = runnerOptions(opts);
  const { installAgentTask, InstallTaskOutput } = require('../../hypervisor/hyperv/task-scheduler') as typeof import('../../hypervisor/hyperv/task-scheduler');
  const result = emit(
    InstallTaskOutput,
    await installAgentTask({ NodePath: process.execPath, CliPath: cliPath, ConfigDir: dir, WorkingDirectory: packageRoot, WhatIf: opts.whatIf === true }, runner),
  );
  const head = result.WhatIf ? 'install-task --what-if: nothing registered' : result.Changed ? 'install-task: registered' : 'install-task: already registered, nothing changed';
  return { json: result, text: [head, ...taskLines(result)].join('\n') };
}

/** Removes the agent and guard tasks (definitions/task.ts declares the command). */
export async function runUninstallTask(opts: UninstallTaskOptions): Promise<CommandOutcome> {
  const runner = runnerOptions(opts);
  const { uninstallAgentTask, UninstallTaskOutput } = require('../../hypervisor/hyperv/task-scheduler') as typeof import('../../hypervisor/hyperv/task-scheduler');
  const result: UninstallTaskOutput = emit(UninstallTaskOutput, await uninstallAgentTask({ WhatIf: opts.whatIf === true }, runner));
  const lines = result.Tasks.map((t) => {
    const what = !t.Found ? 'not registered' : t.Removed ? 'removed' : 'would be removed';
    const running = t.State === 'Running' ? ' (its process still runs: it stops at reboot or when stopped by hand)' : '';
    return `  ${t.TaskPath}${t.TaskName}: ${what}${running}`;
  });
  return { json: result, text: [`uninstall-task${result.WhatIf ? ' --what-if' : ''}:`, ...lines].join('\n') };
}
