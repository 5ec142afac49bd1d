import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import type { ResolvedModule } from '../config';
import { DEFAULT_HOOK_TIMEOUT_SECONDS } from './path-rules';
import { existingHookScript } from './paths';
import { execaFn, killTree, treeSpawnOptions } from './process-tree';
import { TailBuffer } from './tail';
import { HOOK_FIELD, HOOK_OUTPUT_TAIL_BYTES, HookInput, HookResult, type HookFacts, type HookKind, type HookReason } from './types';

// Runs one of a module's hook scripts: PowerShell with -File <script> <base64 JSON>, an argument
// array (never a command string), so the module name, VM name and everything else reach the script
// as data it decodes, never as PowerShell source. The timeout kills the whole process tree.

/** Who runs the hook, where, and why. */
export interface HookContext {
  /** The config directory: relative hook paths resolve inside it; the hook's working directory. */
  configDir: string;
  /** This host's name (cluster.json). */
  host: string;
  reason: HookReason;
  facts: HookFacts;
}

export interface RunHookOptions {
  /** powershell.exe or pwsh (hookExecutable() decides). */
  executable: string;
  /** Overrides the module's Hooks.TimeoutSeconds. */
  timeoutMs?: number;
  /** Aborting kills the hook's tree now (agent shutdown); the result says timedOut: false, ok: false. */
  signal?: AbortSignal;
  /** Bytes kept of each stream (default HOOK_OUTPUT_TAIL_BYTES). */
  tailBytes?: number;
}

/** After the hook exits, how long its streams may take to deliver their last bytes (a grandchild it left running may hold them open). */
const DRAIN_AFTER_EXIT_MS = 2000;

/** The base64 JSON argument: UTF-8 JSON, validated by HookInput. Base64 has no character PowerShell or a command line treats specially. */
export function encodeHookInput(input: HookInput): string {
  return Buffer.from(JSON.stringify(HookInput.parse(input)), 'utf8').toString('base64');
}

/** The argument array for PowerShell: fixed switches, the script, the one data argument. */
export function hookArguments(script: string, inputBase64: string): string[] {
  return ['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-File', script, inputBase64];
}

/** Timeout of a module's hooks: Hooks.TimeoutSeconds from the module file, else the default. */
export function hookTimeoutMs(module: ResolvedModule): number {
  return (module.hooks.timeoutSeconds ?? DEFAULT_HOOK_TIMEOUT_SECONDS) * 1000;
}

/**
 * Runs the module's `kind` hook. Null when the module has none. Throws HOOK_NOT_FOUND when the
 * script is missing, CONFIG_INVALID for a path the module schema refuses; every other outcome
 * (exit code, timeout, a PowerShell that cannot be started) is in the result, `ok` only for exit 0.
 */
export async function runHook(kind: HookKind, module: ResolvedModule, context: HookContext, options: RunHookOptions): Promise<HookResult | null> {
  const configured = module.hooks[HOOK_FIELD[kind]];
  if (configured === undefined) return null;
  const script = await existingHookScript(context.configDir, module.name, kind, configured);
  const input = encodeHookInput({
    Version: 1,
    Module: module.name,
    VmId: context.facts.vmId ?? module.vmId ?? null,
    VmName: module.vmName,
    Host: context.host,
    Action: kind,
    Reason: context.reason,
    Epoch: context.facts.epoch,
  });
  const timeoutMs = options.timeoutMs ?? hookTimeoutMs(module);
  const limit = options.tailBytes ?? HOOK_OUTPUT_TAIL_BYTES;
  const stdout = new TailBuffer(limit);
  const stderr = new TailBuffer(limit);
  const started = performance.now();
  const result = (exitCode: number | null, timedOut: boolean, aborted: boolean, spawnError?: string): HookResult =>
    HookResult.parse({
      kind,
      script,
      ok: exitCode === 0 && !timedOut && !aborted && spawnError === undefined,
      exitCode,
      durationMs: Math.round(performance.now() - started),
      timedOut,
      aborted,
      stdoutTail: stdout.text(),
      stderrTail: stderr.text(),
      ...(spawnError !== undefined ? { spawnError } : {}),
    });
  if (options.signal?.aborted === true) return result(null, false, true);

  const execa = await execaFn();
  const child = execa(options.executable, hookArguments(script, input), {
    ...treeSpawnOptions(),
    cwd: context.configDir,
    stdin: 'ignore',
    buffer: false,
    reject: false,
    stripFinalNewline: false,
    // Colour codes would only fill the tails; telemetry and the update check slow every start.
    env: { NO_COLOR: '1', TERM: 'dumb', POWERSHELL_TELEMETRY_OPTOUT: '1', POWERSHELL_UPDATECHECK: 'Off' },
  });
  const drained = Promise.all([collect(child.stdout, stdout), collect(child.stderr, stderr)]);

  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  let timedOut = false;
  let killing: Promise<void> | undefined;
  // Only a hook still running is killed: after its exit the pid (and group) may be someone else's.
  const kill = (): void => {
    if (!exited) killing ??= killTree(child.pid);
  };
  const timer = setTimeout(() => {
    if (exited) return;
    timedOut = true;
    kill();
  }, timeoutMs);
  const onAbort = (): void => kill();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const r = await child;
    exited = true;
    if (killing !== undefined) await killing;
    // The last bytes may still be in the pipes; a grandchild left running may hold them open.
    await Promise.race([drained, delay(DRAIN_AFTER_EXIT_MS)]);
    child.stdout?.destroy();
    child.stderr?.destroy();
    if (child.pid === undefined) {
      const why = (r as { shortMessage?: string }).shortMessage ?? `${options.executable} could not be started`;
      return result(null, false, false, why);
    }
    return result(killing !== undefined ? null : (r.exitCode ?? null), timedOut, killing !== undefined && !timedOut);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}

function collect(stream: Readable | null | undefined, into: TailBuffer): Promise<void> {
  if (stream === null || stream === undefined) return Promise.resolve();
  return new Promise((done) => {
    stream.on('data', (chunk: Buffer) => into.push(chunk));
    stream.once('end', () => done());
    stream.once('close', () => done());
    stream.once('error', () => done());
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
