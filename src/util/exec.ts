// The one seam for running other programs (qemu-img, rsync, ...). execa is ESM-only, so it is
// loaded with a dynamic import from this CommonJS build.
interface ExecaLikeResult {
  exitCode?: number;
  stdout?: unknown;
  stderr?: unknown;
}
type ExecaFn = (file: string, args: readonly string[], options: Record<string, unknown>) => Promise<ExecaLikeResult>;
let loaded: Promise<ExecaFn> | undefined;

function execaFn(): Promise<ExecaFn> {
  loaded ??= import('execa').then((m) => m.execa as unknown as ExecaFn);
  return loaded;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion; never throws for a non-zero exit (the caller decides). */
export async function run(file: string, args: readonly string[], options: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<ExecResult> {
  const execa = await execaFn();
  const result = await execa(file, args, {
    reject: false,
    cwd: options.cwd,
    env: options.env,
    timeout: options.timeoutMs,
    stripFinalNewline: true,
  });
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? '') };
}

/** Like run, but throws with the command's stderr when it exits non-zero. */
export async function runOk(file: string, args: readonly string[], options: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<ExecResult> {
  const r = await run(file, args, options);
  if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.exitCode}: ${r.stderr || r.stdout}`);
  return r;
}
