import { readFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { accessSync, constants } from 'node:fs';
import { VmmirrorError } from '../errors';
import { writeFileAtomic } from '../config/write';
import type { LabFile, LabHostName } from '../lab/schema';

// The demo's lab, made before any agent starts: `lab create`, then two settings written into its
// files as an administrator would (a failback after 2 s in sync instead of 30, and a weight per
// module so balancing has something to do), then `vmmirror balance --apply --local-only` on each
// host: the default primaries are spread before the agents start, so no switchover is needed.

export interface DemoSettings {
  vms: number;
  diskMiB: number;
  heartbeatMs: number;
  peerTimeoutMs: number;
  intervalSeconds: number;
  failbackStableSeconds: number;
  writesPerSecond: number;
  seed: number;
}

export interface BalanceSummary {
  PlanId: string;
  Method: string;
  Moves: Array<{ Module: string; From: string; To: string }>;
  Hosts: Array<{ Name: string; LoadBefore: number; LoadAfter: number }>;
}

/** True when `name` is an executable file in a PATH folder (no shell, no `which`). */
export function onPath(name: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    for (const ext of process.platform === 'win32' ? ['.exe', '.cmd', ''] : ['']) {
      try {
        accessSync(join(dir, name + ext), constants.X_OK);
        return true;
      } catch {
        // not here
      }
    }
  }
  return false;
}

/** The lab's simulated VMs make and write their VHDX files with QEMU's tools. */
export function checkTools(): void {
  const missing = ['qemu-img', 'qemu-io'].filter((t) => !onPath(t));
  if (missing.length > 0) {
    throw new VmmirrorError('TOOL_MISSING', `vmmirror demo needs ${missing.join(' and ')} on the PATH (the simulated VMs write their VHDX disks with QEMU's tools): install qemu-utils (Debian/Ubuntu: sudo apt-get install qemu-utils; Windows: QEMU for Windows)`, { details: { Missing: missing } });
  }
}

async function editJson(path: string, edit: (o: Record<string, unknown>) => void): Promise<void> {
  const o = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  edit(o);
  await writeFileAtomic(path, `${JSON.stringify(o, null, 2)}\n`);
}

/** Makes the lab, tunes it, balances it; returns the lab, the plan and each module's default primary after it. */
export async function prepareLab(labDir: string, s: DemoSettings): Promise<{ lab: LabFile; balance: BalanceSummary; defaultPrimary: Map<string, LabHostName> }> {
  const { createLab } = require('../lab/create') as typeof import('../lab/create');
  const lab = await createLab({ dir: labDir, vms: s.vms, diskMiB: s.diskMiB, heartbeatMs: s.heartbeatMs, peerTimeoutMs: s.peerTimeoutMs, intervalSeconds: s.intervalSeconds, writesPerSecond: s.writesPerSecond, seed: s.seed, failback: 'auto' });
  for (const h of lab.Hosts) {
    await editJson(join(h.ConfigDirectory, 'cluster.json'), (c) => {
      (c.Agent as Record<string, unknown>).FailbackStableSeconds = s.failbackStableSeconds;
    });
    // Weights vms..1: the lab alternates default primaries, so unequal weights leave the hosts
    // unequally loaded and the plan moves some (4 VMs: 4+2 against 3+1 becomes 4+1 against 3+2).
    for (const [i, m] of lab.Modules.entries()) {
      await editJson(join(h.ConfigDirectory, 'modules', `${m.Name}.json`), (f) => {
        f.Weight = lab.Modules.length - i;
      });
    }
  }
  const { runBalance } = require('../cli/commands/balance') as typeof import('../cli/commands/balance');
  const hva = lab.Hosts.find((h) => h.Name === 'hva')!;
  const plan = (await runBalance({ dir: hva.ConfigDirectory })).json as import('../cli/commands/balance').BalanceDocument;
  if (plan.Moves.length > 0) {
    // Both hosts write the same plan (checked by its id): the agents are not running yet.
    for (const h of lab.Hosts) await runBalance({ dir: h.ConfigDirectory, apply: true, localOnly: true, expect: plan.PlanId });
  }
  const defaultPrimary = new Map<string, LabHostName>();
  for (const m of lab.Modules) {
    const f = JSON.parse(await readFile(join(hva.ConfigDirectory, 'modules', `${m.Name}.json`), 'utf8')) as { DefaultPrimary: LabHostName };
    defaultPrimary.set(m.Name, f.DefaultPrimary);
  }
  return {
    lab,
    balance: { PlanId: plan.PlanId, Method: plan.Method, Moves: plan.Moves, Hosts: plan.Hosts.map((h) => ({ Name: h.Name, LoadBefore: h.CurrentLoad, LoadAfter: h.ProposedLoad })) },
    defaultPrimary,
  };
}
