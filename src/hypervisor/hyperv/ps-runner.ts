// The only file that touches node-powershell. One long-lived PowerShell session, one call at a time,
// a timeout on every call (then the session is killed and the next call starts a fresh one).
// Nothing but base64 text ([A-Za-z0-9+/=]) is ever interpolated into the command line we send:
// the script path and the input are both passed base64-encoded and decoded inside PowerShell.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { PowerShell } from 'node-powershell';
import type { ZodType } from 'zod';
import { HypervisorError } from '../../errors';
import { componentLogger } from '../../log';
import { preludeCommand, scriptCommand } from './ps-command';
import { checkPolicyReply, policyCheckCommand } from './ps-policy';
import { parseReply } from './ps-reply';

const log = componentLogger('ps-runner');
const SCRIPT_NAME = /^[A-Z][a-z]+-[A-Z][A-Za-z]+$/;

export interface PsRunnerOptions {
  /** pwsh (tests) or powershell.exe (production). */
  executable: string;
  /** Folders searched for scripts, in order (default: the repository's ps/; tests add the mock's helpers). */
  scriptDirs?: string[];
  /** Modules imported once per session start (tests: the mock Hyper-V module). Our own paths only. */
  importModules?: string[];
  /** Extra environment for the session process (tests: the mock's state folder). */
  env?: Record<string, string>;
  /** Timeout for starting a session (ms). */
  startTimeoutMs?: number;
  /** A session is replaced after this many calls, so nothing a script leaks can pile up (default 500). */
  maxCallsPerSession?: number;
}

export interface InvokeOptions {
  timeoutMs: number;
}

interface Session {
  shell: PowerShell;
  pid: number;
  calls: number;
}

/** The repository's ps/ folder (three levels above src/hypervisor/hyperv or dist/hypervisor/hyperv). */
export const defaultScriptDir: string = resolve(__dirname, '..', '..', '..', 'ps');

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/** Resolves when the shell's process has exited (node-powershell 5 keeps this promise private). */
function exited(shell: PowerShell): Promise<void> {
  const p = (shell as unknown as { exitPromise?: unknown }).exitPromise;
  return p instanceof Promise ? p.then(() => undefined, () => undefined) : delay(500);
}

function isExitedError(err: unknown): boolean {
  return err instanceof Error && /after process exited/.test(err.message);
}

/** Runs ps/ scripts in one long-lived PowerShell session (restarted when it dies). */
export class PsRunner {
  private session: Session | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  private readonly scriptDirs: string[];
  private closed = false;

  constructor(private readonly options: PsRunnerOptions) {
    this.scriptDirs = options.scriptDirs ?? [defaultScriptDir];
  }

  /** Runs `scriptName` with `input`, validates its Result with `schema`; serialised per session. */
  invoke<T>(scriptName: string, input: object, schema: ZodType<T>, options: InvokeOptions): Promise<T> {
    const run = this.tail.then(() => this.invokeNow(scriptName, input, schema, options));
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** The PID of the live session's PowerShell process, or null (tests kill it to prove recovery). */
  sessionPid(): number | null {
    return this.session?.pid ?? null;
  }

  /** Ends the session; later calls fail. */
  async close(): Promise<void> {
    this.closed = true;
    await this.tail;
    await this.killSession('SIGTERM');
  }

  private async invokeNow<T>(scriptName: string, input: object, schema: ZodType<T>, options: InvokeOptions): Promise<T> {
    if (this.closed) throw new HypervisorError('PS_SESSION_DIED', 'PowerShell runner is closed');
    if (!SCRIPT_NAME.test(scriptName)) throw new HypervisorError('PS_PROTOCOL', `not a script name: ${scriptName}`);
    const scriptPath = this.scriptDirs.map((d) => resolve(d, `${scriptName}.ps1`)).find((p) => existsSync(p));
    if (scriptPath === undefined) throw new HypervisorError('PS_PROTOCOL', `no script ${scriptName}.ps1 in ${this.scriptDirs.join(', ')}`);
    const command = scriptCommand(scriptPath, input);
    const started = Date.now();
    const stdout = await this.runCommand(command, options.timeoutMs, scriptName);
    log.debug({ script: scriptName, ms: Date.now() - started }, 'script done');
    return parseReply(scriptName, stdout, schema);
  }

  private async runCommand(command: string, timeoutMs: number, what: string): Promise<string> {
    if (this.session && this.session.calls >= (this.options.maxCallsPerSession ?? 500)) await this.killSession('SIGTERM');
    for (let attempt = 0; ; attempt++) {
      const session = await this.ensureSession();
      session.calls++;
      try {
        return await this.withTimeout(session, command, timeoutMs, what);
      } catch (err) {
        // Died between calls: the command never reached PowerShell, so one retry is safe.
        if (isExitedError(err) && attempt === 0) {
          this.session = null;
          continue;
        }
        throw err;
      }
    }
  }

  private async withTimeout(session: Session, command: string, timeoutMs: number, what: string): Promise<string> {
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const call = session.shell.invoke(command);
    const expired = new Promise<void>((resolveTimer) => {
      timer = setTimeout(() => {
        timedOut = true;
        resolveTimer();
      }, timeoutMs);
    });
    try {
      const result = await Promise.race([call, expired.then(() => null)]);
      if (result === null || timedOut) {
        call.catch(() => undefined);
        await this.killSession('SIGKILL');
        throw new HypervisorError('PS_TIMEOUT', `${what} did not answer within ${timeoutMs} ms; PowerShell session restarted`, {
          details: { script: what, timeoutMs },
        });
      }
      const stderr = result.stderr?.toString('utf8').trim() ?? '';
      if (stderr) log.warn({ script: what, stderr: stderr.slice(0, 2000) }, 'PowerShell wrote to stderr');
      return result.stdout?.toString('utf8') ?? '';
    } catch (err) {
      if (err instanceof HypervisorError) throw err;
      if (isExitedError(err)) throw err;
      if (this.session === session) this.session = null;
      // The launcher died: make sure PowerShell itself (if it outlived it) goes too.
      if (session.pid > 0) {
        try {
          process.kill(session.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      throw new HypervisorError('PS_SESSION_DIED', `PowerShell session died during ${what}`, {
        cause: err,
        details: { script: what, pid: session.pid },
      });
    } finally {
      clearTimeout(timer);
    }
  }

  private async ensureSession(): Promise<Session> {
    if (this.session) return this.session;
    const shell = this.spawnShell();
    const prelude = preludeCommand(this.options.importModules ?? []);
    const startTimeout = this.options.startTimeoutMs ?? 30000;
    const pending: Session = { shell, pid: -1, calls: 0 };
    this.session = pending;
    let out: string;
    try {
      out = await this.withTimeout(pending, prelude, startTimeout, 'session start');
    } catch (err) {
      this.session = null;
      await shell.dispose('SIGKILL').catch(() => undefined);
      throw new HypervisorError('PS_SESSION_DIED', `cannot start PowerShell (${this.options.executable})`, { cause: err });
    }
    const match = /"Pid":(\d+)/.exec(out);
    if (!match || !/"Ok":true/.test(out)) {
      this.session = null;
      await shell.dispose('SIGKILL').catch(() => undefined);
      throw new HypervisorError('PS_SESSION_DIED', 'PowerShell session prelude failed', { details: { output: out.slice(0, 2000) } });
    }
    pending.pid = Number(match[1]);
    // A Group Policy execution policy outranks -ExecutionPolicy Bypass: find out now, as one clear error.
    try {
      checkPolicyReply(await this.withTimeout(pending, policyCheckCommand(this.scriptDirs), startTimeout, 'execution policy check'));
    } catch (err) {
      await this.killSession('SIGKILL');
      throw err;
    }
    log.debug({ pid: pending.pid }, 'PowerShell session started');
    return pending;
  }

  private spawnShell(): PowerShell {
    // node-powershell lets NODE_POWERSHELL override the executable; we decide it, not the environment.
    const saved = process.env.NODE_POWERSHELL;
    delete process.env.NODE_POWERSHELL;
    try {
      return new PowerShell({
        executable: this.options.executable,
        executableOptions: { '-NoProfile': true, '-NonInteractive': true, '-ExecutionPolicy': 'Bypass' },
        spawnOptions: { env: { ...process.env, TERM: 'dumb', NO_COLOR: '1', ...this.options.env } },
        throwOnInvocationError: false,
      });
    } finally {
      if (saved !== undefined) process.env.NODE_POWERSHELL = saved;
    }
  }

  private async killSession(signal: NodeJS.Signals): Promise<void> {
    const s = this.session;
    this.session = null;
    if (!s) return;
    // The process node-powershell spawned may be a launcher (the dotnet tool shim starts
    // `dotnet pwsh.dll` as a child): kill PowerShell itself by the PID it reported, then the launcher.
    // Waiting for the launcher to exit on its own lets it reap PowerShell (no zombie left behind).
    if (s.pid > 0) {
      try {
        process.kill(s.pid, signal);
        await Promise.race([exited(s.shell), delay(3000)]);
      } catch {
        // already gone
      }
    }
    await s.shell.dispose('SIGKILL').catch(() => undefined);
  }
}
