import { z } from 'zod';
import { formatProblem, inspectConfig } from '../../config';
import { ExitCodes } from '../../errors';
import { hookFileProblems } from '../../hooks/validate';
import type { CommandOutcome } from '../command';
import { emit } from '../output';

// `vmmirror config validate`: every problem of cluster.json, host.json and modules/*.json at once.

export const ConfigValidateOutput = z.object({
  Valid: z.boolean(),
  ConfigDirectory: z.string(),
  HostName: z.string().nullable(),
  ModuleCount: z.number().int(),
  Problems: z.array(z.object({ File: z.string(), Path: z.string(), Message: z.string() })),
});
export type ConfigValidateOutput = z.infer<typeof ConfigValidateOutput>;

export interface ConfigValidateOptions {
  dir?: string;
}

/** Checks every config file (definitions/config.ts declares the command). */
export async function runConfigValidate(opts: ConfigValidateOptions): Promise<CommandOutcome> {
  const r = await inspectConfig(opts.dir);
  // Hook scripts are checked here only (docs/hooks.md): a missing one must not stop the agent.
  if (r.config !== undefined) r.problems.push(...(await hookFileProblems(r.config)));
  const json = emit(ConfigValidateOutput, {
    Valid: r.problems.length === 0,
    ConfigDirectory: r.dir,
    HostName: r.config?.self.Name ?? null,
    ModuleCount: r.config?.modules.length ?? 0,
    Problems: r.problems,
  });
  const text = json.Valid
    ? `configuration in ${r.dir} is valid: host ${json.HostName}, ${json.ModuleCount} module(s)`
    : `configuration in ${r.dir} has ${r.problems.length} problem(s):\n${r.problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`;
  return { json, text, exitCode: json.Valid ? ExitCodes.OK : ExitCodes.CONFIG };
}
