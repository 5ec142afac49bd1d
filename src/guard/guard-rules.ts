import type { GuardLease } from './lease-file';

// What the guard does, pure: given the last valid lease it has seen and the current monotonic
// time, which VMs must be stopped. A damaged or vanished file is not a renewal: the last valid
// lease runs out as it would have.

export interface GuardMemory {
  /** The newest valid lease read (by WrittenAtMono). */
  lease: GuardLease | null;
}

export type GuardDecision = { action: 'none' } | { action: 'fence'; vms: GuardLease['Vms']; reason: 'lease-expired' | 'no-lease' };

export function remember(mem: GuardMemory, read: GuardLease | 'missing' | 'damaged'): GuardMemory {
  if (read === 'missing' || read === 'damaged') return mem;
  if (mem.lease !== null && read.WrittenAtMono < mem.lease.WrittenAtMono) return mem;
  return { lease: read };
}

export function decide(mem: GuardMemory, now: number): GuardDecision {
  const l = mem.lease;
  if (l === null || l.Vms.length === 0) return { action: 'none' };
  if (l.RunnableUntilMono === null) return { action: 'fence', vms: l.Vms, reason: 'no-lease' };
  return now >= l.RunnableUntilMono ? { action: 'fence', vms: l.Vms, reason: 'lease-expired' } : { action: 'none' };
}
