import { join } from 'node:path';

// How the lab starts `vmmirror` child processes: with the same build of the CLI that is running
// this code. From dist/ (what `npx vmmirror` runs) that is the compiled main.js; from the sources
// (ts-node: the tests, a developer after an edit) it is main.ts through ts-node, so a lab never runs
// agents from a stale dist/ beside fresh sources, or the other way round.

const RUNNING_COMPILED = __filename.endsWith('.js');
// src/lab or dist/lab: the package root is two levels up either way.
const ROOT = join(__dirname, '..', '..');

/** Node arguments that run `vmmirror <args>`. */
export function cliNodeArgs(args: string[]): string[] {
  if (RUNNING_COMPILED) return [join(__dirname, '..', 'cli', 'main.js'), ...args];
  // Resolved from here: `-r` alone resolves from the child's working folder, which is the lab's.
  return ['-r', require.resolve('ts-node/register/transpile-only'), join(ROOT, 'src', 'cli', 'main.ts'), ...args];
}

/** Environment for those children: ts-node must find this package's tsconfig whatever the working folder. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return RUNNING_COMPILED ? { ...process.env, ...extra } : { ...process.env, TS_NODE_PROJECT: join(ROOT, 'tsconfig.json'), ...extra };
}
