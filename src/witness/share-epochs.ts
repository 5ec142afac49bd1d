import { mkdir, open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { ClaimKind } from '../cluster/witness-rules';
import { Name } from '../config/common';
import { ConfigError, fromNodeError } from '../errors';
import { Epoch } from './schema';
import { highestEpochName, type EpochRecord } from './share-rules';

// The file-share witness's epoch files (docs/witness.md): <share>/modules/<module>/epoch-<n>.json,
// created exclusively ('wx'), so its first creator decides who owns epoch n (the claimant itself,
// or for a handover the receiver). The folder names come only from this host's validated config
// and from numbers; a listing is only parsed for epoch-<n>.json numbers.

export const EpochFile = z.object({ Module: Name, Epoch, Owner: Name, Kind: z.enum(['own', 'takeover', 'handover']) }).strict();

/** A folder under the share (created if missing); the share itself must exist. */
export async function shareFolder(share: string, ...parts: string[]): Promise<string> {
  const s = await stat(share).catch((e: unknown) => {
    throw fromNodeError(e, share);
  });
  if (!s.isDirectory()) throw new ConfigError('CONFIG_INVALID', `file-share witness: ${share} is not a folder`);
  const dir = join(share, ...parts);
  await mkdir(dir, { recursive: true }).catch((e: unknown) => {
    throw fromNodeError(e, dir);
  });
  return dir;
}

/** The module's highest epoch file; an unreadable one (a creator that died mid-write) has no owner. */
export async function readHighest(share: string, module: string): Promise<EpochRecord | null> {
  const dir = join(share, 'modules', module);
  const names = await readdir(dir).catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [] as string[];
    throw fromNodeError(e, dir);
  });
  const epoch = highestEpochName(names);
  if (epoch === null) return null;
  const text = await readFile(join(dir, `epoch-${epoch}.json`), 'utf8').catch(() => '');
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  const r = EpochFile.safeParse(parsed);
  return { epoch, owner: r.success && r.data.Epoch === epoch && r.data.Module === module ? r.data.Owner : null };
}

/** After losing epoch `epoch`: its winner may still be writing the file; look a few times. */
export async function readWinner(share: string, module: string, epoch: number): Promise<EpochRecord | null> {
  let h = await readHighest(share, module);
  for (let i = 0; i < 5 && h !== null && h.epoch === epoch && h.owner === null; i++) {
    await new Promise((r) => setTimeout(r, 20));
    h = await readHighest(share, module);
  }
  return h;
}

/** Creates epoch `epoch` of `module` naming `owner`, exclusively and fsynced; 'exists' if another creator was first. */
export async function createEpochFile(share: string, module: string, epoch: number, owner: string, kind: ClaimKind): Promise<'created' | 'exists'> {
  const dir = await shareFolder(share, 'modules', module);
  const file = join(dir, `epoch-${epoch}.json`);
  const body = `${JSON.stringify(EpochFile.parse({ Module: module, Epoch: epoch, Owner: owner, Kind: kind }))}\n`;
  try {
    const fh = await open(file, 'wx');
    try {
      await fh.writeFile(body);
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return 'exists';
    throw fromNodeError(err, file);
  }
  return 'created';
}
