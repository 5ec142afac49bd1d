import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ConfigError } from '../errors';
import { hookPathProblem, isRootedHookPath } from './path-rules';

// Where a hook's script is on this host. Absolute paths as given; relative ones from the config
// directory (the module schema already refused those that climb out of it).

/** The script's absolute path, or CONFIG_INVALID for a path the module schema would refuse. */
export function resolveHookPath(configDir: string, p: string): string {
  const problem = hookPathProblem(p);
  if (problem !== null) throw new ConfigError('CONFIG_INVALID', `hook path ${JSON.stringify(p)} ${problem}`, { details: { Path: p } });
  return isRootedHookPath(p) ? p : resolve(configDir, p);
}

/** Null when the script is a file; else why not, as a sentence about the path. */
export async function hookFileProblem(path: string): Promise<string | null> {
  try {
    const st = await stat(path);
    return st.isFile() ? null : `names ${path}, which is not a file`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? `names ${path}, which does not exist on this host` : `names ${path}, which cannot be read: ${(err as Error).message}`;
  }
}

/** The resolved script, or HOOK_NOT_FOUND saying which module and hook name a missing file. */
export async function existingHookScript(configDir: string, module: string, kind: string, p: string): Promise<string> {
  const script = resolveHookPath(configDir, p);
  const problem = await hookFileProblem(script);
  if (problem !== null) throw new ConfigError('HOOK_NOT_FOUND', `module ${module}: Hooks.${kind} ${problem}`, { details: { Module: module, Hook: kind, Script: script } });
  return script;
}
