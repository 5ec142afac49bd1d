import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CLUSTER_FILE, HOST_FILE, configDir, fromConfigDir } from './paths';
import { ConfigError } from '../errors';
import { ClusterFile } from './cluster';
import { HostLocalFile } from './host-local';
import { ModuleFile } from './module';
import { type ConfigProblem, formatProblem, problemsFromZod } from './problems';
import { crossCheck } from './cross-check';
import type { LoadedConfig } from './resolved';

async function readJson(path: string, file: string, problems: ConfigProblem[], dir: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    problems.push({ File: file, Path: '', Message: code === 'ENOENT' ? `is missing (looked in ${dir}; run \`vmmirror init\` or pass --dir)` : `cannot be read: ${(err as Error).message}` });
    return undefined;
  }
  try {
    return JSON.parse(text.replace(/^\uFEFF/, '')) as unknown;
  } catch (err) {
    problems.push({ File: file, Path: '', Message: `is not valid JSON: ${(err as Error).message}` });
    return undefined;
  }
}

function parseWith<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: import('zod').ZodError } }, file: string, raw: unknown, problems: ConfigProblem[]): T | undefined {
  if (raw === undefined) return undefined;
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  problems.push(...problemsFromZod(file, r.error));
  return undefined;
}

async function listModuleFiles(modulesDir: string, rel: string, problems: ConfigProblem[]): Promise<string[]> {
  try {
    const names = await readdir(modulesDir);
    return names.filter((n) => n.toLowerCase().endsWith('.json')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    problems.push({ File: rel, Path: '', Message: `cannot be listed: ${(err as Error).message}` });
    return [];
  }
}

/** Reads and checks every config file; returns all problems found (the config only when there are none). */
export async function inspectConfig(dirOption?: string): Promise<{ dir: string; config?: LoadedConfig; problems: ConfigProblem[] }> {
  const dir = configDir(dirOption);
  const problems: ConfigProblem[] = [];
  const cluster = parseWith(ClusterFile, CLUSTER_FILE, await readJson(join(dir, CLUSTER_FILE), CLUSTER_FILE, problems, dir), problems);
  const host = parseWith(HostLocalFile, HOST_FILE, await readJson(join(dir, HOST_FILE), HOST_FILE, problems, dir), problems);
  const modulesRel = cluster?.ModulesDirectory ?? 'modules';
  const modulesDir = fromConfigDir(dir, modulesRel);
  const modules: Array<{ file: string; module: ModuleFile }> = [];
  for (const name of await listModuleFiles(modulesDir, modulesRel, problems)) {
    const file = `${modulesRel.replace(/\\/g, '/').replace(/\/$/, '')}/${name}`;
    const raw = await readJson(join(modulesDir, name), file, problems, dir);
    const m = parseWith(ModuleFile, file, raw, problems);
    if (m !== undefined) modules.push({ file, module: m });
    else if (cluster !== undefined) checkHostRefs(file, raw, cluster.Hosts.map((h) => h.Name.toLowerCase()), problems);
  }
  if (cluster === undefined || host === undefined) return { dir, problems };
  const config = await crossCheck({ dir, modulesDir, cluster, host, modules, problems });
  return problems.length === 0 ? { dir, config, problems } : { dir, problems };
}

// A module file that failed its schema still gets its host names checked, so one pass shows all.
function checkHostRefs(file: string, raw: unknown, hosts: string[], problems: ConfigProblem[]): void {
  if (typeof raw !== 'object' || raw === null) return;
  for (const field of ['DefaultPrimary', 'Pin'] as const) {
    const v = (raw as Record<string, unknown>)[field];
    if (typeof v === 'string' && !hosts.includes(v.toLowerCase())) problems.push({ File: file, Path: field, Message: `names "${v}", which is not a host in ${CLUSTER_FILE}` });
  }
}

/** Loads the config or throws CONFIG_INVALID listing every problem (details.Problems). */
export async function loadConfig(dirOption?: string): Promise<LoadedConfig> {
  const r = await inspectConfig(dirOption);
  if (r.config !== undefined) return r.config;
  throw invalidConfigError(r.dir, r.problems);
}

/** The error thrown for a bad config: one line per problem in the message, the list in details. */
export function invalidConfigError(dir: string, problems: ConfigProblem[]): ConfigError {
  const lines = problems.map((p) => `  ${formatProblem(p)}`).join('\n');
  return new ConfigError('CONFIG_INVALID', `configuration in ${dir} has ${problems.length} problem(s):\n${lines}`, { details: { Problems: problems } });
}

/** True when the path exists (used for the identity files). */
export async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}
