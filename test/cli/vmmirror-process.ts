import { join } from 'node:path';
import { run } from '../../src/util/exec';

// Runs the real CLI in a child process (ts-node, transpile-only), as a user would.

export const CLI_MAIN = join(__dirname, '..', '..', 'src', 'cli', 'main.ts');

/** Node arguments that start the CLI from source. */
export function cliNodeArgs(args: string[]): string[] {
  return ['-r', 'ts-node/register/transpile-only', CLI_MAIN, ...args];
}

/** `vmmirror <args>`; resolves with exit code, stdout, stderr (never throws on non-zero). */
export async function vmmirror(args: string[], env: Record<string, string> = {}): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const r = await run(process.execPath, cliNodeArgs(args), { env: { VMMIRROR_LOG_LEVEL: 'warn', ...env } });
  return r;
}
