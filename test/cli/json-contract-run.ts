import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { cliNodeArgs } from './vmmirror-process';

// Runs commands of the JSON contract test as a user would (a child process, `--json` added) and
// checks the stdout rule on the spot: exactly one JSON document, one line, nothing before or after.
// Spawned here rather than through src/util/exec: that one trims the final newline, and the bytes
// on stdout are what is under test.

export interface Captured {
  /** The command as registered in src/cli/output-schemas.ts ("lab create"). */
  command: string;
  outcome: 'success' | 'error';
  args: string[];
  exitCode: number;
  stdout: string;
}

/** stdout must be one JSON object and its newline: no log line, no second document. */
export function expectOneDocument(c: Captured, stderr: string): void {
  const where = `${c.args.join(' ')} (exit ${c.exitCode})\nstdout: ${c.stdout}\nstderr: ${stderr}`;
  expect(c.stdout.endsWith('\n'), `stdout ends with one newline: ${where}`).to.equal(true);
  expect(c.stdout.slice(0, -1), `one line on stdout: ${where}`).not.to.include('\n');
  const doc = JSON.parse(c.stdout) as unknown;
  expect(doc, where).to.be.an('object').and.not.be.an('array');
  if (c.outcome === 'error') {
    expect(c.exitCode, where).not.to.equal(0);
    expect(doc, where).to.have.nested.property('Error.Code').that.is.a('string');
  } else {
    expect(doc, where).not.to.have.property('Error');
  }
}

interface Running {
  pid: number;
  stdout: () => string;
  stderr: () => string;
  exited: () => boolean;
  exit: Promise<number>;
  stop: (signal: NodeJS.Signals) => void;
}

function start(args: string[], env: Record<string, string>): Running {
  const child = spawn(process.execPath, cliNodeArgs([...args, '--json']), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, VMMIRROR_LOG_LEVEL: 'warn', ...env } });
  let stdout = '';
  let stderr = '';
  let exited = false;
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  // 'close', not 'exit': every byte of stdout has been read by then.
  const exit = new Promise<number>((resolve) =>
    child.once('close', (code, signal) => {
      exited = true;
      resolve(code ?? (signal !== null ? 128 : -1));
    }),
  );
  return { pid: child.pid!, stdout: () => stdout, stderr: () => stderr, exited: () => exited, exit, stop: (signal) => child.kill(signal) };
}

/**
 * `vmmirror <args> --json`. `exitCodes`: the codes a run of this outcome may end with (a success
 * document may come with a documented non-zero code: verify 1 = differs, config validate 3).
 */
export async function capture(command: string, outcome: Captured['outcome'], args: string[], exitCodes: number[], env: Record<string, string> = {}): Promise<Captured> {
  const p = start(args, env);
  const exitCode = await p.exit;
  const c: Captured = { command, outcome, args, exitCode, stdout: p.stdout() };
  expect(exitCodes, `exit code of ${args.join(' ')}: ${p.stdout()}${p.stderr()}`).to.include(exitCode);
  expectOneDocument(c, p.stderr());
  return c;
}

/**
 * A command that runs until a signal (agent, guard, witness run): started, then SIGTERMed once
 * `ready` says so (a real event: a log line, a status file, an answering API), then its document.
 * It logs at info meanwhile: every log line must go to stderr, none to stdout.
 */
export async function captureUntilSignal(command: string, args: string[], ready: (stderr: string, pid: number) => Promise<boolean>, env: Record<string, string> = {}): Promise<Captured> {
  const p = start(args, { VMMIRROR_LOG_LEVEL: 'info', ...env });
  try {
    const deadline = Date.now() + 60_000;
    while (!(await ready(p.stderr(), p.pid))) {
      if (p.exited()) throw new Error(`${args.join(' ')} exited before it was ready: ${p.stdout()}${p.stderr()}`);
      if (Date.now() > deadline) throw new Error(`${args.join(' ')} not ready within 60 s: ${p.stderr()}`);
      await sleep(100);
    }
    p.stop('SIGTERM');
    const exitCode = await p.exit;
    const c: Captured = { command, outcome: 'success', args, exitCode, stdout: p.stdout() };
    expect(exitCode, `${args.join(' ')} after SIGTERM: ${p.stdout()}${p.stderr()}`).to.equal(0);
    expectOneDocument(c, p.stderr());
    return c;
  } finally {
    if (!p.exited()) p.stop('SIGKILL');
  }
}

/**
 * `runCli([...args, '--json'])` in this process, stdout captured: the same code the bin runs, without
 * a child's start-up (about a second of CPU each). Used where the child adds nothing the test needs;
 * the child-process runs above prove that nothing else reaches the real stdout. Runs one at a time.
 */
export async function captureInProcess(command: string, outcome: Captured['outcome'], args: string[], exitCodes: number[]): Promise<Captured> {
  const { runCli } = require('../../src/cli/main') as typeof import('../../src/cli/main');
  const out = { stdout: '', stderr: '' };
  const [writeOut, writeErr] = [process.stdout.write.bind(process.stdout), process.stderr.write.bind(process.stderr)];
  const into = (key: 'stdout' | 'stderr') =>
    ((chunk: string | Uint8Array): boolean => {
      out[key] += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
      return true;
    }) as typeof process.stdout.write;
  // stderr too: commander's own message for a usage error would otherwise land in the test output.
  process.stdout.write = into('stdout');
  process.stderr.write = into('stderr');
  let exitCode: number;
  try {
    exitCode = await runCli(['node', 'vmmirror', ...args, '--json']);
  } finally {
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
  }
  const c: Captured = { command, outcome, args, exitCode, stdout: out.stdout };
  expect(exitCodes, `exit code of ${args.join(' ')} (in process): ${out.stdout}${out.stderr}`).to.include(exitCode);
  expectOneDocument(c, out.stderr);
  return c;
}
