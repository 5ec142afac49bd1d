import { z } from 'zod';
import type { ResolvedModule } from '../config';
import { HypervisorError, VmmirrorError } from '../errors';
import { runHook, type HookContext, type RunHookOptions } from './run';
import type { HookKind, HookResult } from './types';

// What a hook's outcome means. A pre hook is a gate: its failure throws (the caller aborts the
// start, stop or switchover it guarded). A post hook only reports: its failure is returned for
// status and the command's JSON, and never undoes what already happened.

export type PreHookKind = Extract<HookKind, 'PreStart' | 'PreStop'>;
export type PostHookKind = Extract<HookKind, 'PostStart' | 'PostStop'>;

/** One hook's outcome as status and command JSON show it (PascalCase, durations in ms). */
export const HookReport = z
  .object({
    Hook: z.enum(['PreStart', 'PostStart', 'PreStop', 'PostStop']),
    Ok: z.boolean(),
    /** Null when it was killed, never started, or its script is missing. */
    ExitCode: z.number().int().nullable(),
    DurationMs: z.number().min(0),
    TimedOut: z.boolean(),
    /** Set on failure: HOOK_FAILED, HOOK_NOT_FOUND, CONFIG_INVALID. */
    Code: z.string().optional(),
    Message: z.string().optional(),
    StdoutTail: z.string(),
    StderrTail: z.string(),
  })
  .strict();
export type HookReport = z.infer<typeof HookReport>;

/** The last non-empty line of a tail: usually the script's own reason. */
function lastLine(tail: string): string {
  const lines = tail.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0 && !/^\[\d+ earlier bytes dropped\]$/.test(l));
  return lines[lines.length - 1] ?? '';
}

/** One sentence on why a run failed, naming module, hook and script. */
export function failureMessage(module: string, r: HookResult): string {
  const what = `module ${module}: ${r.kind} hook ${r.script}`;
  let why: string;
  if (r.spawnError !== undefined) why = `could not be started (${r.spawnError})`;
  else if (r.timedOut) why = `passed its timeout after ${r.durationMs} ms and was killed with every process it started`;
  else if (r.aborted) why = 'was stopped with every process it started (the agent is shutting down)';
  else why = `exited with code ${r.exitCode ?? 'none'} after ${r.durationMs} ms`;
  const said = lastLine(r.stderrTail) || lastLine(r.stdoutTail);
  return said.length > 0 ? `${what} ${why}: ${said}` : `${what} ${why}`;
}

/** The report of a finished run (failed or not). */
export function reportOf(module: string, r: HookResult): HookReport {
  return HookReport.parse({
    Hook: r.kind,
    Ok: r.ok,
    ExitCode: r.exitCode,
    DurationMs: r.durationMs,
    TimedOut: r.timedOut,
    ...(r.ok ? {} : { Code: 'HOOK_FAILED', Message: failureMessage(module, r) }),
    StdoutTail: r.stdoutTail,
    StderrTail: r.stderrTail,
  });
}

/** The report of a hook that threw before it could run (missing script, refused path). */
export function reportOfError(kind: HookKind, err: unknown): HookReport {
  return HookReport.parse({
    Hook: kind,
    Ok: false,
    ExitCode: null,
    DurationMs: 0,
    TimedOut: false,
    Code: err instanceof VmmirrorError ? err.code : 'INTERNAL',
    Message: err instanceof Error ? err.message : String(err),
    StdoutTail: '',
    StderrTail: '',
  });
}

/**
 * Runs a pre hook as a gate. Null: the module has none. Throws HOOK_FAILED (non-zero exit,
 * timeout, abort, PowerShell not startable; details.Report holds the report) or HOOK_NOT_FOUND.
 */
export async function runPreHook(kind: PreHookKind, module: ResolvedModule, context: HookContext, options: RunHookOptions): Promise<HookResult | null> {
  const r = await runHook(kind, module, context, options);
  if (r === null || r.ok) return r;
  throw new HypervisorError('HOOK_FAILED', failureMessage(module.name, r), { details: { Module: module.name, Report: reportOf(module.name, r) } });
}

/** Runs a post hook for reporting only. Null: the module has none. Never throws. */
export function runPostHook(kind: PostHookKind, module: ResolvedModule, context: HookContext, options: RunHookOptions): Promise<HookReport | null> {
  return runReportedHook(kind, module, context, options);
}

/**
 * Runs any hook for reporting only (a PreStop before an operator's stop, which goes on whatever
 * the hook says). Null: the module has none. Never throws.
 */
export async function runReportedHook(kind: HookKind, module: ResolvedModule, context: HookContext, options: RunHookOptions): Promise<HookReport | null> {
  try {
    const r = await runHook(kind, module, context, options);
    return r === null ? null : reportOf(module.name, r);
  } catch (err) {
    return reportOfError(kind, err);
  }
}
