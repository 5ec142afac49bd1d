import type { ConfigProblem, LoadedConfig } from '../config';
import { resolveHookPath, hookFileProblem } from './paths';
import { HOOK_FIELD, HookKind } from './types';

// `vmmirror config validate`: every hook a module names must be a file on this host. Only there,
// not at agent start: a script missing on one host must not keep the agent (and every other
// module's failover) from starting; at run time the same check gives HOOK_NOT_FOUND.

/** One problem per hook whose script is not a file here (File = the module file, Path = Hooks.<Kind>). */
export async function hookFileProblems(config: Pick<LoadedConfig, 'dir' | 'modules'>): Promise<ConfigProblem[]> {
  const problems: ConfigProblem[] = [];
  for (const m of config.modules) {
    for (const kind of HookKind.options) {
      const p = m.hooks[HOOK_FIELD[kind]];
      if (p === undefined) continue;
      const problem = await hookFileProblem(resolveHookPath(config.dir, p));
      if (problem !== null) problems.push({ File: m.file, Path: `Hooks.${kind}`, Message: `${problem} (HOOK_NOT_FOUND)` });
    }
  }
  return problems;
}
