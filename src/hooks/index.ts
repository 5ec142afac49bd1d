// Hooks: the operator's PowerShell scripts run around a module's start and stop (docs/hooks.md).
export { HookRunner, type HookRunnerOptions } from './runner';
export { runHook, encodeHookInput, hookArguments, hookTimeoutMs, type HookContext, type RunHookOptions } from './run';
export { runPreHook, runPostHook, runReportedHook, HookReport, type PreHookKind, type PostHookKind } from './semantics';
export { hookExecutable } from './executable';
export { hookFileProblems } from './validate';
export { resolveHookPath } from './paths';
export { hookPathProblem, DEFAULT_HOOK_TIMEOUT_SECONDS } from './path-rules';
export { HookInput, HookKind, HookReason, HookResult, HOOK_OUTPUT_TAIL_BYTES, type HookFacts } from './types';
