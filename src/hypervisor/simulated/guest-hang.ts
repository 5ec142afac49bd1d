import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { readJson, vmPaths, writeJsonAtomic } from './store';

// A hung guest, simulated: its OS stops answering the heartbeat integration service and cannot
// shut itself down, while the VM (its process, its disks) still runs. The mark is a file in the
// VM's folder naming the boot it hangs, so it reaches every process (the agent's driver, the VM
// process) and a restart (a new boot) cures the guest as a real reset does.

const HangMark = z.object({ bootId: z.string().min(1), since: z.string() }).strict();

function markPath(stateDir: string, vmId: string): string {
  return join(vmPaths(stateDir, vmId).dir, 'hang.json');
}

/** Marks boot `bootId` of the VM hung (its heartbeat is lost from now on). */
export function markGuestHung(stateDir: string, vmId: string, bootId: string): void {
  writeJsonAtomic(markPath(stateDir, vmId), { bootId, since: new Date().toISOString() });
}

/** Removes the mark (the guest answers again: a hang that cleared itself). */
export function clearGuestHang(stateDir: string, vmId: string): void {
  rmSync(markPath(stateDir, vmId), { force: true });
}

/** True when boot `bootId` of the VM is hung. */
export function isGuestHung(stateDir: string, vmId: string, bootId: string): boolean {
  try {
    return readJson(markPath(stateDir, vmId), HangMark)?.bootId === bootId;
  } catch {
    return false; // a torn or foreign file is no hang
  }
}
