import type { LoadedConfig, ResolvedModule } from '../config';
import { VmmirrorError } from '../errors';
import { componentLogger, type Logger } from '../log';
import { hookExecutable } from './executable';
import type { HookContext } from './run';
import { runPreHook, runReportedHook, type HookReport, type PostHookKind, type PreHookKind } from './semantics';
import { HOOK_FIELD, type HookFacts, type HookKind, type HookReason, type HookResult } from './types';

// The agent's handle on hooks: knows the config directory, this host and which PowerShell to use,
// so a call site says only which hook, which module, why, and the epoch.
//
//   await hooks.pre('PreStart', m, 'failover', { epoch, vmId });   // throws: abort the start
//   ...start the VM...
//   const report = await hooks.post('PostStart', m, 'failover', { epoch, vmId }); // never throws
//
// or, the same in one call: await hooks.around('Start', m, 'failover', { epoch, vmId }, () => start()).

export interface HookRunnerOptions {
  /** PowerShell to run hooks with; default hookExecutable() (the Hyper-V driver's, else powershell.exe / pwsh). */
  executable?: string;
  log?: Logger;
  /** Aborting kills every hook running now (agent shutdown). */
  signal?: AbortSignal;
}

export class HookRunner {
  readonly executable: string;
  private readonly log: Logger;

  constructor(
    private readonly config: Pick<LoadedConfig, 'dir' | 'self' | 'hypervisor'>,
    private readonly options: HookRunnerOptions = {},
  ) {
    this.executable = options.executable ?? hookExecutable({ hypervisorOptions: config.hypervisor.Options });
    this.log = options.log ?? componentLogger('hooks');
  }

  /** True when the module names a script for this hook. */
  has(kind: HookKind, module: ResolvedModule): boolean {
    return module.hooks[HOOK_FIELD[kind]] !== undefined;
  }

  /** Runs a pre hook; null when there is none. Throws HOOK_FAILED / HOOK_NOT_FOUND: the caller aborts what it guarded. */
  async pre(kind: PreHookKind, module: ResolvedModule, reason: HookReason, facts: HookFacts): Promise<HookResult | null> {
    if (!this.has(kind, module)) return null;
    try {
      const r = await runPreHook(kind, module, this.context(reason, facts), this.runOptions());
      if (r !== null) this.log.info({ event: 'hook-done', module: module.name, hook: kind, reason, durationMs: r.durationMs }, `${module.name}: ${kind} hook done in ${r.durationMs} ms`);
      return r;
    } catch (err) {
      const code = err instanceof VmmirrorError ? err.code : 'INTERNAL';
      this.log.warn({ event: 'hook-failed', module: module.name, hook: kind, reason, code, err }, `${module.name}: ${kind} hook failed; ${kind === 'PreStart' ? 'the start' : 'the stop'} is aborted`);
      throw err;
    }
  }

  /** Runs a post hook; null when there is none. Never throws: the report says how it went. */
  post(kind: PostHookKind, module: ResolvedModule, reason: HookReason, facts: HookFacts): Promise<HookReport | null> {
    return this.reported(kind, module, reason, facts);
  }

  /** Runs any hook for its report only (PreStop before an operator's stop, which goes on regardless). Never throws. */
  async reported(kind: HookKind, module: ResolvedModule, reason: HookReason, facts: HookFacts): Promise<HookReport | null> {
    if (!this.has(kind, module)) return null;
    const report = await runReportedHook(kind, module, this.context(reason, facts), this.runOptions());
    if (report !== null && !report.Ok) this.log.warn({ event: 'hook-failed', module: module.name, hook: kind, reason, code: report.Code }, report.Message ?? `${module.name}: ${kind} hook failed`);
    else if (report !== null) this.log.info({ event: 'hook-done', module: module.name, hook: kind, reason, durationMs: report.DurationMs }, `${module.name}: ${kind} hook done in ${report.DurationMs} ms`);
    return report;
  }

  /**
   * Pre hook, action, post hook: `around('Start', m, 'failover', facts, () => start())`. A failing
   * pre hook throws and the action does not run; a failing action throws and the post hook does
   * not run (nothing started or stopped); the post hook's report comes back, never thrown.
   */
  async around<T>(phase: 'Start' | 'Stop', module: ResolvedModule, reason: HookReason, facts: HookFacts, action: () => Promise<T>): Promise<{ value: T; pre: HookResult | null; post: HookReport | null }> {
    const pre = await this.pre(`Pre${phase}`, module, reason, facts);
    const value = await action();
    const post = await this.post(`Post${phase}`, module, reason, facts);
    return { value, pre, post };
  }

  private context(reason: HookReason, facts: HookFacts): HookContext {
    return { configDir: this.config.dir, host: this.config.self.Name, reason, facts };
  }

  private runOptions(): { executable: string; signal?: AbortSignal } {
    return { executable: this.executable, ...(this.options.signal !== undefined ? { signal: this.options.signal } : {}) };
  }
}
