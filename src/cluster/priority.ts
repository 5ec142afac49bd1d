import type { ModuleSnapshot } from './types';

// Start priority (Policies.StartPriority, docs/cluster.md "Start priority"): the order in which a
// host moves modules onto itself by takeover or automatic failback. High goes first; a module
// waits while one of a higher priority on this host is being moved (its claim asked or granted
// and not yet started, its VM starting, its failback in flight), so the important VMs get the
// host's first seconds. NoAutoStart never moves on its own (module-decide.ts).

export type StartPriority = 'High' | 'Medium' | 'Low' | 'NoAutoStart';

const RANK: Record<StartPriority, number> = { High: 0, Medium: 1, Low: 2, NoAutoStart: 3 };

export function rankOf(m: Pick<ModuleSnapshot, 'startPriority'>): number {
  return RANK[m.startPriority ?? 'Medium'];
}

/** Module names in the order a step decides them: by priority, then by name. */
export function decisionOrder(modules: Record<string, ModuleSnapshot>): string[] {
  return Object.keys(modules).sort((a, b) => rankOf(modules[a]!) - rankOf(modules[b]!) || (a < b ? -1 : a > b ? 1 : 0));
}

/** A move onto this host under way (a takeover claim, a start, a failback). */
function moving(m: ModuleSnapshot): boolean {
  return m.claim !== null || m.vm === 'starting' || m.failbackAsked;
}

/** True while a module of a higher priority than `name` is being moved onto this host. */
export function higherMoving(modules: Record<string, ModuleSnapshot>, name: string): boolean {
  const rank = rankOf(modules[name]!);
  return Object.values(modules).some((o) => o.name !== name && rankOf(o) < rank && moving(o));
}
