import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../src/util/exec';

// Runs the real CLI in a child process, as a user would: the compiled bin (what `npx vmmirror`
// runs; `npm test` builds it first), or from source through ts-node when dist/ is missing or older
// than src/ (a developer running one test file after an edit).

const ROOT = join(__dirname, '..', '..');
export const CLI_MAIN = join(ROOT, 'src', 'cli', 'main.ts');
const BIN = join(ROOT, 'bin', 'vmmirror.js');
const DIST_MAIN = join(ROOT, 'dist', 'cli', 'main.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

let useDist: boolean | undefined;
function distIsCurrent(): boolean {
  useDist ??= existsSync(DIST_MAIN) && statSync(DIST_MAIN).mtimeMs >= newestMtime(join(ROOT, 'src')) - 1;
  return useDist;
}

/** Node arguments that start the CLI (compiled when current, else from source). */
export function cliNodeArgs(args: string[]): string[] {
  return distIsCurrent() ? [BIN, ...args] : ['-r', 'ts-node/register/transpile-only', CLI_MAIN, ...args];
}

/** `vmmirror <args>`; resolves with exit code, stdout, stderr (never throws on non-zero). */
export async function vmmirror(args: string[], env: Record<string, string> = {}): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const r = await run(process.execPath, cliNodeArgs(args), { env: { VMMIRROR_LOG_LEVEL: 'warn', ...env } });
  return r;
}
