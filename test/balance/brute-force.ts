import type { BalanceItem } from '../../src/balance/plan';

// The judge for the optimiser: every one of the 2^n assignments of modules to hosts, checked
// against the rules directly (pins; two members of a group never on one host), ranked by the
// documented order: heavier host's load, then moves, then the assignment vector in module-name
// order with the cluster's first host first. Written from the rules, not from the optimiser's
// units or quanta: loads in these tests are multiples of 1/8, exact in floating point.

export interface BruteResult {
  /** Host index per module, modules sorted by lower-case name; null when no assignment is feasible. */
  hosts: number[] | null;
  heavier: number;
  moves: number;
}

export function bruteForce(hostNames: readonly [string, string], items: readonly BalanceItem[]): BruteResult {
  const idx = (h: string): number => hostNames.findIndex((n) => n.toLowerCase() === h.toLowerCase());
  const sorted = [...items].sort((a, b) => (a.name.toLowerCase() < b.name.toLowerCase() ? -1 : a.name.toLowerCase() > b.name.toLowerCase() ? 1 : 0));
  const n = sorted.length;
  let best: BruteResult = { hosts: null, heavier: Infinity, moves: Infinity };
  for (let mask = 0; mask < 2 ** n; mask++) {
    // Bit (n-1-i) is module i's host, so counting up visits vectors in lexicographic order:
    // the first feasible vector of an optimal (heavier, moves) is the tie break's answer.
    const hosts = sorted.map((_, i) => (mask >> (n - 1 - i)) & 1);
    if (sorted.some((it, i) => it.pin !== undefined && idx(it.pin) !== hosts[i])) continue;
    let clash = false;
    for (let i = 0; i < n && !clash; i++) {
      for (let j = i + 1; j < n && !clash; j++) {
        const [gi, gj] = [sorted[i].group, sorted[j].group];
        if (gi !== undefined && gj !== undefined && gi.toLowerCase() === gj.toLowerCase() && hosts[i] === hosts[j]) clash = true;
      }
    }
    if (clash) continue;
    const load = [0, 0];
    sorted.forEach((it, i) => (load[hosts[i]] += it.load));
    const heavier = Math.max(load[0], load[1]);
    const moves = sorted.filter((it, i) => idx(it.current) !== hosts[i]).length;
    if (heavier < best.heavier || (heavier === best.heavier && moves < best.moves)) best = { hosts, heavier, moves };
  }
  return best;
}
