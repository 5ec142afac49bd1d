import { isAbsolute, join, resolve } from 'node:path';

// Where config files live and how their relative paths resolve.

export const CLUSTER_FILE = 'cluster.json';
export const HOST_FILE = 'host.json';

/** The config directory: --dir, else VMMIRROR_CONFIG_DIR, else the platform's usual place. */
export function configDir(dir?: string): string {
  if (dir !== undefined && dir.length > 0) return resolve(dir);
  if (process.env.VMMIRROR_CONFIG_DIR) return resolve(process.env.VMMIRROR_CONFIG_DIR);
  return process.platform === 'win32' ? join(process.env.ProgramData ?? 'C:\\ProgramData', 'vmmirror') : '/etc/vmmirror';
}

/** Resolves a path from a config file: absolute stays, relative is taken from the config directory. */
export function fromConfigDir(dir: string, p: string): string {
  return isAbsolute(p) || /^[A-Za-z]:[\\/]/.test(p) || p.startsWith('\\\\') ? p : resolve(dir, p);
}

