// Runs ps/Install-MirrorAgentTask.ps1 and ps/Uninstall-MirrorAgentTask.ps1 (the scheduled tasks that
// keep the agent and the guard running, docs/agent.md "Scheduled task") through the same runner as the
// Hyper-V driver: paths travel as base64 JSON, never as PowerShell source. The zod schemas below are
// the scripts' Result and, unchanged, the `install-task` / `uninstall-task` --json output.
import { z } from 'zod';
import { HypervisorError, UsageError, hasCode, type VmmirrorError } from '../../errors';
import { PsRunner } from './ps-runner';

const Duration = z.string().regex(/^-?P/, 'an xs:duration such as PT1M');

export const TaskTrigger = z.object({
  Type: z.string(), // 'Boot', 'Time', or the CIM class of a trigger vmmirror does not make
  Enabled: z.boolean(),
  // Task Scheduler's local time, no offset ('yyyy-MM-ddTHH:mm:ss'): PowerShell's ConvertFrom-Json
  // still reads it as a [datetime] (Kind Unspecified), which the annotation tells schema readers.
  StartBoundary: z.string().meta({ 'x-powershell-type': 'datetime' }).nullable(),
  RepetitionInterval: Duration.nullable(),
  RepetitionDuration: Duration.nullable(),
});

export const TaskDefinition = z.object({
  TaskName: z.string(),
  TaskPath: z.string(),
  Description: z.string(),
  Actions: z.array(z.object({ Execute: z.string(), Arguments: z.string(), WorkingDirectory: z.string() })),
  Triggers: z.array(TaskTrigger),
  Principal: z.object({ UserId: z.string(), LogonType: z.string().nullable(), RunLevel: z.string().nullable() }),
  Settings: z.object({
    ExecutionTimeLimit: Duration.nullable(),
    RestartCount: z.number().int(),
    RestartInterval: Duration.nullable(),
    MultipleInstances: z.string().nullable(),
    StartWhenAvailable: z.boolean(),
    DisallowStartIfOnBatteries: z.boolean(),
    StopIfGoingOnBatteries: z.boolean(),
    Priority: z.number().int(),
    Enabled: z.boolean(),
    AllowHardTerminate: z.boolean(),
    AllowDemandStart: z.boolean(),
  }),
});
export type TaskDefinition = z.infer<typeof TaskDefinition>;

export const InstallTaskOutput = z.object({
  WhatIf: z.boolean(),
  Changed: z.boolean(),
  TaskPath: z.string(),
  Tasks: z.array(
    z.object({
      TaskName: z.string(),
      TaskPath: z.string(),
      /** What install did (or, with WhatIf, would do). */
      Action: z.enum(['Created', 'Updated', 'Unchanged']),
      Changed: z.boolean(),
      /** Task Scheduler's state of the task (Ready, Running, Disabled...), null when it does not exist. */
      State: z.string().nullable(),
      /** Dotted paths where the registered definition differed from the wanted one (Updated). */
      Differences: z.array(z.string()),
      /** Fields that read back differently right after registering (should be empty). */
      ReadBackMismatch: z.array(z.string()),
      Definition: TaskDefinition,
      Previous: TaskDefinition.nullable(),
    }),
  ),
});
export type InstallTaskOutput = z.infer<typeof InstallTaskOutput>;

export const UninstallTaskOutput = z.object({
  WhatIf: z.boolean(),
  Changed: z.boolean(),
  TaskPath: z.string(),
  Tasks: z.array(z.object({ TaskName: z.string(), TaskPath: z.string(), Found: z.boolean(), Removed: z.boolean(), State: z.string().nullable() })),
});
export type UninstallTaskOutput = z.infer<typeof UninstallTaskOutput>;

export interface InstallTaskInput {
  NodePath: string;
  CliPath: string;
  ConfigDir: string;
  WorkingDirectory: string;
  WhatIf: boolean;
}

export interface TaskRunnerOptions {
  /** powershell.exe on a host; pwsh in tests. */
  executable: string;
  /** Modules imported into the session first (tests: the mock ScheduledTasks module). */
  importModules?: string[];
  timeoutMs?: number;
}

/** A script's own codes (USAGE, TASK_SCHEDULER_UNAVAILABLE) arrive as HYPERVISOR_ERROR details: restore them. */
function scriptError(err: unknown): unknown {
  if (!hasCode(err, 'HYPERVISOR_ERROR')) return err;
  const e = err as VmmirrorError;
  const message = e.message.replace(/^[A-Za-z]+-[A-Za-z]+: /, '');
  if (e.details.scriptCode === 'TASK_SCHEDULER_UNAVAILABLE') return new HypervisorError('TASK_SCHEDULER_UNAVAILABLE', message, { cause: err });
  if (e.details.scriptCode === 'USAGE') return new UsageError(message, { cause: err });
  return err;
}

async function runTaskScript<T>(script: string, input: object, schema: z.ZodType<T>, options: TaskRunnerOptions): Promise<T> {
  const runner = new PsRunner({ executable: options.executable, importModules: options.importModules ?? [] });
  try {
    return await runner.invoke(script, input, schema, { timeoutMs: options.timeoutMs ?? 120_000 });
  } catch (err) {
    throw scriptError(err);
  } finally {
    await runner.close();
  }
}

/** Registers (or updates, or with WhatIf only describes) the agent and guard tasks. */
export function installAgentTask(input: InstallTaskInput, options: TaskRunnerOptions): Promise<InstallTaskOutput> {
  return runTaskScript('Install-MirrorAgentTask', input, InstallTaskOutput, options);
}

/** Unregisters the agent and guard tasks (running instances keep running). */
export function uninstallAgentTask(input: { WhatIf: boolean }, options: TaskRunnerOptions): Promise<UninstallTaskOutput> {
  return runTaskScript('Uninstall-MirrorAgentTask', input, UninstallTaskOutput, options);
}
