import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { ConfigError } from '../../errors';

// The control API token: a secret file only its owner (administrators) can read.

/** Reads the token, refusing a file that others can read (the check the agent repeats at start). */
export async function readToken(path: string): Promise<string> {
  let text: string;
  try {
    if (process.platform !== 'win32') {
      const st = await stat(path);
      if ((st.mode & 0o077) !== 0) throw new ConfigError('CONFIG_INVALID', `${path} is readable by others; it must be owner-only (chmod 600)`, { details: { Path: path } });
    }
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError('CONFIG_INVALID', `cannot read the control token ${path}: ${(err as Error).message}`, { details: { Path: path }, cause: err });
  }
  const token = text.trim();
  if (token.length < 32) throw new ConfigError('CONFIG_INVALID', `${path} does not hold a token (run \`vmmirror init\`)`, { details: { Path: path } });
  return token;
}

/** Constant-time comparison of a presented token with the real one (hashing first equalises lengths). */
export function tokenMatches(presented: string | undefined, token: string): boolean {
  if (presented === undefined) return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}
