import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileDurable } from '../replication/util/durable-file';

// The lease the agent hands its guard: until when (host monotonic ms) this host may run the VMs
// listed. The agent rewrites it atomically whenever its lease or its running VMs change; the guard
// (a separate process) stops those VMs once the deadline passes, whether or not the agent lives.

export const GuardLease = z
  .object({
    Version: z.literal(1),
    Host: z.string().min(1),
    AgentPid: z.number().int().positive(),
    /** Host monotonic ms (src/util/mono.ts) after which the VMs must be off; null: no lease at all. */
    RunnableUntilMono: z.number().nullable(),
    Vms: z.array(z.object({ Module: z.string().min(1), VmId: z.string().min(1) }).strict()).max(4096),
    WrittenAtMono: z.number(),
  })
  .strict();
export type GuardLease = z.infer<typeof GuardLease>;

export function guardDir(dataDir: string): string {
  return join(dataDir, 'guard');
}
export function leasePath(dataDir: string): string {
  return join(guardDir(dataDir), 'lease.json');
}

/** Writes the lease atomically (temp, fsync, rename, folder fsync). */
export async function writeGuardLease(dataDir: string, lease: GuardLease): Promise<void> {
  await mkdir(guardDir(dataDir), { recursive: true, mode: 0o700 });
  await writeFileDurable(leasePath(dataDir), `${JSON.stringify(GuardLease.parse(lease))}\n`);
}

/** The lease file as the guard reads it: absent, damaged (kept apart: never a silent default), or valid. */
export async function readGuardLease(dataDir: string): Promise<GuardLease | 'missing' | 'damaged'> {
  let text: string;
  try {
    text = await readFile(leasePath(dataDir), 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'damaged';
  }
  try {
    const r = GuardLease.safeParse(JSON.parse(text));
    return r.success ? r.data : 'damaged';
  } catch {
    return 'damaged';
  }
}
