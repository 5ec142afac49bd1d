import { open } from 'node:fs/promises';
import { ConfigError, fromNodeError } from '../errors';
import { writeDurable } from './durable';
import { ClaimsFile, WITNESS_LIMITS } from './schema';

// The witness's durable claims: one JSON file, zod-checked on load. A missing file is a witness
// that never granted anything; a damaged one stops the start with a clear error, never a silent
// reset (an empty state would let an old owner's stale copy win an epoch again).

export type Claims = Record<string, { epoch: number; owner: string }>;

export async function loadClaims(path: string): Promise<Claims> {
  let text: string;
  try {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      if (size > WITNESS_LIMITS.maxClaimsFileBytes) {
        throw new ConfigError('WITNESS_STATE_INVALID', `${path}: ${size} bytes, more than the ${WITNESS_LIMITS.maxClaimsFileBytes} a claims file may hold; restore it from a backup`, { details: { Path: path } });
      }
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ConfigError('WITNESS_STATE_INVALID', `${path} is missing: \`vmmirror witness init\` creates it, so this witness has lost its claims. A witness that forgot them could confirm a host's stale copy: restore the file from a backup (or, knowing which host runs each VM, re-create the witness and let the hosts relearn it)`, { details: { Path: path } });
    }
    throw fromNodeError(err, path);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw damaged(path, `not JSON (${(err as Error).message})`);
  }
  const parsed = ClaimsFile.safeParse(raw);
  if (!parsed.success) throw damaged(path, parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
  const claims: Claims = {};
  for (const [name, c] of Object.entries(parsed.data.Claims)) claims[name] = { epoch: c.Epoch, owner: c.Owner };
  return claims;
}

export async function saveClaims(path: string, claims: Claims): Promise<void> {
  const doc: ClaimsFile = { Version: 1, Claims: {} };
  for (const name of Object.keys(claims).sort()) doc.Claims[name] = { Epoch: claims[name].epoch, Owner: claims[name].owner };
  await writeDurable(path, `${JSON.stringify(ClaimsFile.parse(doc), null, 1)}\n`);
}

function damaged(path: string, why: string): ConfigError {
  return new ConfigError('WITNESS_STATE_INVALID', `${path} is damaged: ${why}. The witness will not start on a guess: restore the file from a backup, or remove it only if both hosts are up and agree on every module's epoch`, { details: { Path: path } });
}
