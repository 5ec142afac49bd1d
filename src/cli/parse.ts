import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { UsageError } from '../errors';

// Parsing helpers for CLI arguments: every bad value is a USAGE error naming the option.

/** Parses a byte count: 65536, 64K, 64KiB, 1M, 1MiB (powers of 1024). */
export function parseBytes(option: string, value: string): number {
  const m = /^(\d+)\s*(K|KiB|M|MiB|G|GiB)?$/i.exec(value.trim());
  if (!m) throw new UsageError(`${option} must be a byte count such as 65536 or 64K, got '${value}'`);
  const unit = (m[2] ?? '').toUpperCase().replace('IB', '');
  const mult = unit === 'K' ? 1024 : unit === 'M' ? 1024 ** 2 : unit === 'G' ? 1024 ** 3 : 1;
  const n = Number(m[1]) * mult;
  if (!Number.isSafeInteger(n)) throw new UsageError(`${option} is too large: '${value}'`);
  return n;
}

/** Accepts one of `choices` or throws a USAGE error listing them. */
export function parseChoice<T extends string>(option: string, value: string, choices: readonly T[]): T {
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`${option} must be one of ${choices.join(', ')}, got '${value}'`);
}

export const ChangedRangesFile = z.array(
  z
    .object({
      Path: z.string().min(1),
      Ranges: z.array(z.object({ Offset: z.number().int().min(0), Length: z.number().int().min(0) }).strict()),
    })
    .strict(),
);
export type ChangedRangesFile = z.infer<typeof ChangedRangesFile>;

/** Reads a changed-ranges file (what Hyper-V change tracking reports, one entry per source path). */
export async function readChangedRanges(path: string): Promise<ChangedRangesFile> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`--changed-ranges ${path}: cannot read JSON (${(err as Error).message})`);
  }
  const r = ChangedRangesFile.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new UsageError(`--changed-ranges ${path}: ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  return r.data;
}
