// The balancing optimiser's input and output (pure data: no config, no hypervisor, no files).
// Two hosts; each module has a load, a current default primary, and optionally a pin (a host its
// default primary must be) and an anti-affinity group (members never share a default primary).

export interface BalanceItem {
  /** Module name; unique (case-insensitively). */
  name: string;
  /** Load in load units (Weight, or memory GiB + vCPUs: src/balance/load.ts); >= 0. */
  load: number;
  /** The module's DefaultPrimary now (a host name, any case). */
  current: string;
  /** Host the default primary must be (the module's Pin, or a host it cannot move from). */
  pin?: string;
  /** Anti-affinity group (compared case-insensitively). */
  group?: string;
}

/** How the assignment was found: exact methods prove it optimal; the heuristic does not. */
export type BalanceMethod = 'enumeration' | 'dp' | 'heuristic';

export interface BalanceInput {
  /** The cluster's two hosts, in cluster.json order (the tie break prefers the first). */
  hosts: readonly [string, string];
  items: readonly BalanceItem[];
  /** Forces a method (tests compare each against brute force); default 'auto' picks by size. */
  method?: BalanceMethod | 'auto';
}

export interface HostLoad {
  name: string;
  currentLoad: number;
  proposedLoad: number;
}

export interface Assignment {
  name: string;
  load: number;
  /** Current and proposed default primary, spelt as in the cluster's host list. */
  current: string;
  proposed: string;
}

export interface BalancePlan {
  method: BalanceMethod;
  /** True when the method proves no assignment has a lighter heavier host (then fewer moves). */
  exact: boolean;
  hosts: HostLoad[];
  /** Every module, sorted by name. */
  assignments: Assignment[];
  /** The modules whose default primary changes, sorted by name. */
  moves: Array<{ name: string; from: string; to: string }>;
}
