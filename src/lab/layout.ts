import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError, UsageError } from '../errors';
import { LAB_FILE, LAB_HOSTS, LabFile, type LabHost, type LabHostName } from './schema';

// Where everything of a lab lives under its directory. Every path comes from the lab directory and
// fixed names (host names hva/hvb, module names the lab made itself), never from a file's content.

export function labPaths(dirArg: string) {
  const dir = resolve(dirArg);
  return {
    dir,
    labFile: join(dir, LAB_FILE),
    runDir: join(dir, 'run'),
    logsDir: join(dir, 'logs'),
    witnessDir: join(dir, 'witness'),
    host: (h: LabHostName) => ({
      root: join(dir, h),
      configDir: join(dir, h, 'config'),
      dataDir: join(dir, h, 'data'),
      simDir: join(dir, h, 'sim'),
      disksDir: join(dir, h, 'disks'),
      socket: controlSocketPath(dir, h),
    }),
    pidFile: (process: string) => join(dir, 'run', `${process}.pid`),
    logFile: (process: string) => join(dir, 'logs', `${process}.log`),
  };
}

// A Unix socket path holds at most 107 bytes (sun_path); Windows uses a named pipe instead, named
// after a digest of the lab directory so two labs on one machine never share a pipe.
function controlSocketPath(dir: string, host: LabHostName): string {
  if (process.platform === 'win32') return `\\\\.\\pipe\\vmmirror-lab-${createHash('sha256').update(dir).digest('hex').slice(0, 12)}-${host}`;
  return join(dir, host, 'control.sock');
}

export function checkSocketPath(path: string): void {
  if (process.platform !== 'win32' && Buffer.byteLength(path) > 107) {
    throw new UsageError(`the lab directory is too deep: the control socket ${path} would be ${Buffer.byteLength(path)} bytes, a Unix socket path holds at most 107 (choose a shorter <dir>)`, { details: { Path: path } });
  }
}

/** The processes a lab runs: the witness, and an agent and a guard per host. */
export type LabProcessName = 'witness' | `${LabHostName}-agent` | `${LabHostName}-guard`;

/** Which processes a `<host>|witness` argument names (none: the whole lab, witness first). */
export function processesOf(target: string | undefined): LabProcessName[] {
  if (target === undefined) return ['witness', 'hva-guard', 'hva-agent', 'hvb-guard', 'hvb-agent'];
  if (target === 'witness') return ['witness'];
  const h = labHostName(target);
  return [`${h}-guard`, `${h}-agent`];
}

/** Checks a host argument: hva or hvb. */
export function labHostName(v: string): LabHostName {
  if ((LAB_HOSTS as readonly string[]).includes(v)) return v as LabHostName;
  throw new UsageError(`a lab host is ${LAB_HOSTS.join(' or ')}, got ${JSON.stringify(v)}`);
}

/** Reads and checks `<dir>/lab.json`: CONFIG_NOT_FOUND when the directory is not a lab, CONFIG_INVALID when damaged. */
export async function readLab(dirArg: string): Promise<LabFile> {
  const p = labPaths(dirArg);
  let text: string;
  try {
    text = await readFile(p.labFile, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ConfigError('CONFIG_NOT_FOUND', `${p.dir} is not a lab (no ${LAB_FILE}): make one with \`vmmirror lab create ${dirArg}\``, { details: { Path: p.labFile } });
    throw new ConfigError('CONFIG_INVALID', `${p.labFile}: ${(e as Error).message}`, { details: { Path: p.labFile } });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError('CONFIG_INVALID', `${p.labFile}: not JSON (${(e as Error).message})`, { details: { Path: p.labFile } });
  }
  const r = LabFile.safeParse(raw);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`);
    throw new ConfigError('CONFIG_INVALID', `${p.labFile} is damaged:\n${problems.join('\n')}`, { details: { Path: p.labFile, Problems: problems } });
  }
  // A lab copied or moved elsewhere still names its old paths: refuse rather than act on another lab's files.
  if (r.data.Directory !== p.dir) {
    throw new ConfigError('CONFIG_INVALID', `${p.labFile} describes the lab in ${r.data.Directory}, not ${p.dir} (a lab cannot be moved: create a new one)`, { details: { Path: p.labFile } });
  }
  return r.data;
}

export function labHost(lab: LabFile, name: LabHostName): LabHost {
  const h = lab.Hosts.find((x) => x.Name === name);
  if (h === undefined) throw new ConfigError('CONFIG_INVALID', `lab.json lists no host ${name}`);
  return h;
}
