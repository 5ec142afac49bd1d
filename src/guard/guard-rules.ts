import type { GuardLease } from './lease-file';

// What the guard does, pure: given the last valid lease it has seen and the current monotonic
// time, which VMs must be stopped. A damaged or vanished file is not a renewal: the last valid
// lease runs out as it would have.
//
// A lease is judged against the clock it was written with. After a reboot the host's monotonic
// clock starts again near zero, so a lease the previous boot left names instants that look far in
// the future. Two bounds catch it: a lease cannot have been written after now, and it cannot run
// longer past its writing than the longest lease the cluster grants. A lease from a previous boot
// therefore either fails them (its VMs are fenced at once) or had already run out.

export interface GuardMemory {
  /** The newest valid lease read (by WrittenAtMono). */
  lease: GuardLease | null;
}

export type GuardDecision = { action: 'none' } | { action: 'fence'; vms: GuardLease['Vms']; reason: 'lease-expired' | 'no-lease' | 'foreign-clock' | 'damaged' };

/** True when `l` cannot have been written on this clock (a previous boot, or a forged file). */
export function foreignClock(l: GuardLease, now: number, maxLeaseMs: number): boolean {
  if (l.WrittenAtMono > now) return true;
  return l.RunnableUntilMono !== null && l.RunnableUntilMono - l.WrittenAtMono > maxLeaseMs;
}

export function remember(mem: GuardMemory, read: GuardLease | 'missing' | 'damaged', now = Infinity, maxLeaseMs = Infinity): GuardMemory {
  if (read === 'missing' || read === 'damaged') return mem;
  if (foreignClock(read, now, maxLeaseMs)) {
    // Kept as a lease that ran out at the dawn of this clock: its VMs are fenced, and any lease
    // genuinely written on this clock supersedes it.
    return { lease: { ...read, RunnableUntilMono: 0, WrittenAtMono: Math.min(read.WrittenAtMono, 0) } };
  }
  if (mem.lease !== null && read.WrittenAtMono < mem.lease.WrittenAtMono) return mem;
  return { lease: read };
}

export function decide(mem: GuardMemory, now: number): GuardDecision {
  const l = mem.lease;
  if (l === null || l.Vms.length === 0) return { action: 'none' };
  if (l.RunnableUntilMono === null) return { action: 'fence', vms: l.Vms, reason: 'no-lease' };
  if (l.RunnableUntilMono === 0 && l.WrittenAtMono <= 0) return { action: 'fence', vms: l.Vms, reason: 'foreign-clock' };
  return now >= l.RunnableUntilMono ? { action: 'fence', vms: l.Vms, reason: 'lease-expired' } : { action: 'none' };
}
