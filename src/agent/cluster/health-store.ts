import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { Name } from '../../config/common';
import type { Logger } from '../../log';
import { writeFileDurable } from '../../replication/util/durable-file';

// The VM health counts of each module, kept across agent restarts (<DataDirectory>/health/<module>.json),
// so restarting the agent does not hand a hung guest the whole ladder again. Only counts and
// words are kept, no instants: monotonic instants mean nothing after a host reboot, so a loss or a
// healthy period is measured again from the agent's start. Advisory: a damaged file is logged and
// the module starts from zero (a bounded cost: at most the ladder once more), never an error that
// keeps the agent from running VMs.

const Count = z.number().int().min(0).max(1000);

export const HealthRecord = z
  .object({
    Version: z.literal(1),
    Module: Name,
    /** The epoch the counts belong to on this host (null: not placed here yet). */
    Epoch: z.number().int().min(0).nullable(),
    Restarts: Count,
    Relocations: Count,
    GivenUp: z.boolean(),
    LastAction: z.enum(['restart', 'relocate', 'give-up']).nullable(),
    LastReason: z.string().max(1000).nullable(),
    LastActionAt: z.string().datetime().nullable(),
    /** Counts the peer sent with a move here, not yet taken (HealthCarry). */
    Carried: z.object({ AfterEpoch: z.number().int().min(0), Relocations: Count, Reason: z.string().max(1000) }).strict().nullable(),
  })
  .strict();
export type HealthRecord = z.infer<typeof HealthRecord>;

export function healthDir(dataDir: string): string {
  return join(dataDir, 'health');
}

export async function writeHealthRecord(dir: string, r: HealthRecord): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileDurable(join(dir, `${HealthRecord.parse(r).Module}.json`), `${JSON.stringify(r)}\n`);
}

/** The record of each named module that has one (a missing or damaged one is absent). */
export async function readHealthRecords(dir: string, modules: string[], log: Logger): Promise<Map<string, HealthRecord>> {
  const out = new Map<string, HealthRecord>();
  for (const module of modules) {
    if (!Name.safeParse(module).success) continue;
    const path = join(dir, `${module}.json`);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ module, path, err }, 'cannot read the VM health counts; starting from zero');
      continue;
    }
    try {
      const r = HealthRecord.parse(JSON.parse(text));
      if (r.Module === module) out.set(module, r);
      else log.warn({ module, path }, 'the VM health file names another module; starting from zero');
    } catch (err) {
      log.warn({ module, path, err }, 'the VM health file is damaged; starting from zero');
    }
  }
  return out;
}
