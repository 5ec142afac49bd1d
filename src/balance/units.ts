import { ConfigError, UsageError } from '../errors';
import type { BalanceInput } from './types';

// Turns modules into the optimiser's shape: every load becomes an integer count of 2^-20 load
// units (so sums and ties are exact integer arithmetic, never float noise that would make the
// tie break depend on the order of additions), and the modules become fixed placements plus
// binary decisions ("units"): a free module (host 0 or host 1) or a free anti-affinity pair (first
// member on host 0 and second on host 1, or the reverse). Pins and pairs with a pinned member are
// fixed. Contradictions are BALANCE_INFEASIBLE: reporting a plan that breaks a rule would let
// `--apply` write it.

/** Quantum of the integer loads: 2^20 per load unit (rounding <= 1e-6 per module). */
export const QUANTUM = 2 ** 20;

export interface UnitOption {
  /** Host index (0/1) of each member, in the unit's member order. */
  hosts: number[];
  /** Load this option puts on host 0 (quanta). */
  load0: number;
  /** Members whose host differs from their current one. */
  moves: number;
}

export interface Unit {
  /** Item indexes into Problem.order positions (canonical name order), ascending. */
  members: number[];
  /** Option 0 puts the first member on host 0: the tie break prefers it. */
  options: [UnitOption, UnitOption];
}

export interface Problem {
  hosts: readonly [string, string];
  /** Items in canonical order (by lower-case name, then name). */
  order: Array<{ name: string; load: number; q: number; current: number; pin: number | null }>;
  /** Sum of every item's quantised load. */
  total: number;
  /** Host of each fixed item (by canonical position); -1 for items decided by a unit. */
  fixed: number[];
  /** Host-0 load and moves of the fixed items. */
  fixedLoad0: number;
  fixedMoves: number;
  units: Unit[];
}

function hostIndex(hosts: readonly [string, string], name: string, what: string): number {
  const i = hosts.findIndex((h) => h.toLowerCase() === name.toLowerCase());
  if (i < 0) throw new UsageError(`${what} names "${name}", which is not one of the hosts (${hosts.join(', ')})`);
  return i;
}

function quantise(name: string, load: number): number {
  if (!Number.isFinite(load) || load < 0) throw new UsageError(`module ${name}: load ${load} must be a finite number >= 0`);
  return Math.round(load * QUANTUM);
}

/** Builds the problem; throws BALANCE_INFEASIBLE when pins and groups contradict each other. */
export function buildProblem(input: BalanceInput): Problem {
  const { hosts } = input;
  if (hosts[0].toLowerCase() === hosts[1].toLowerCase()) throw new UsageError('balancing needs two different hosts');
  const order = [...input.items]
    .sort((a, b) => cmp(a.name.toLowerCase(), b.name.toLowerCase()) || cmp(a.name, b.name))
    .map((it) => ({ name: it.name, load: it.load, q: quantise(it.name, it.load), current: hostIndex(hosts, it.current, `module ${it.name}: DefaultPrimary`), pin: it.pin === undefined ? null : hostIndex(hosts, it.pin, `module ${it.name}: Pin`), group: it.group }));
  for (let i = 1; i < order.length; i++) {
    if (order[i].name.toLowerCase() === order[i - 1].name.toLowerCase()) throw new UsageError(`module name ${order[i].name} appears twice`);
  }
  const total = order.reduce((s, it) => s + it.q, 0);
  if (!Number.isSafeInteger(2 * total)) throw new UsageError('the modules\' loads add up to more than balancing can count exactly (keep the sum under 4e9)');

  const groups = new Map<string, number[]>();
  order.forEach((it, i) => {
    if (it.group === undefined) return;
    const key = it.group.toLowerCase();
    groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  const fixed = order.map((it) => (it.pin === null ? -1 : it.pin));
  const units: Unit[] = [];
  const inPair = new Set<number>();
  for (const [, members] of [...groups.entries()].sort((a, b) => cmp(a[0], b[0]))) {
    const names = members.map((i) => order[i].name).join(', ');
    const label = order[members[0]].group as string;
    if (members.length > 2) {
      throw new ConfigError('BALANCE_INFEASIBLE', `anti-affinity group ${label} has ${members.length} members (${names}); two hosts can keep at most two apart: split the group`, { details: { Group: label, Modules: members.map((i) => order[i].name) } });
    }
    if (members.length < 2) continue;
    const [a, b] = members;
    const [pa, pb] = [order[a].pin, order[b].pin];
    if (pa !== null && pb !== null) {
      if (pa === pb) throw new ConfigError('BALANCE_INFEASIBLE', `anti-affinity group ${label}: ${names} are both pinned to ${hosts[pa]}`, { details: { Group: label, Modules: [order[a].name, order[b].name] } });
      continue;
    }
    if (pa !== null) fixed[b] = 1 - pa;
    else if (pb !== null) fixed[a] = 1 - pb;
    else {
      inPair.add(a).add(b);
      const opt = (ha: number): UnitOption => ({ hosts: [ha, 1 - ha], load0: ha === 0 ? order[a].q : order[b].q, moves: Number(order[a].current !== ha) + Number(order[b].current !== 1 - ha) });
      units.push({ members: [a, b], options: [opt(0), opt(1)] });
    }
  }
  order.forEach((it, i) => {
    if (fixed[i] !== -1 || inPair.has(i)) return;
    units.push({ members: [i], options: [{ hosts: [0], load0: it.q, moves: Number(it.current !== 0) }, { hosts: [1], load0: 0, moves: Number(it.current !== 1) }] });
  });
  units.sort((u, v) => u.members[0] - v.members[0]);
  let fixedLoad0 = 0;
  let fixedMoves = 0;
  fixed.forEach((h, i) => {
    if (h === -1) return;
    if (h === 0) fixedLoad0 += order[i].q;
    if (h !== order[i].current) fixedMoves++;
  });
  return { hosts, order: order.map(({ group: _g, ...rest }) => rest), total, fixed, fixedLoad0, fixedMoves, units };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A candidate: the option chosen for each unit (0/1), its host-0 load and moves. */
export interface Choice {
  bits: Uint8Array;
  load0: number;
  moves: number;
}

/** |host0 - host1| in quanta: minimising it minimises the heavier host's load. */
export function imbalance(p: Problem, load0: number): number {
  return Math.abs(2 * load0 - p.total);
}

/** The order every method must respect: imbalance, then moves, then the option bits (0 first, unit by unit). */
export function better(p: Problem, a: Choice, b: Choice): boolean {
  const ia = imbalance(p, a.load0);
  const ib = imbalance(p, b.load0);
  if (ia !== ib) return ia < ib;
  if (a.moves !== b.moves) return a.moves < b.moves;
  for (let i = 0; i < a.bits.length; i++) if (a.bits[i] !== b.bits[i]) return a.bits[i] < b.bits[i];
  return false;
}

/** Totals of a choice of bits (fixed items included). */
export function evaluate(p: Problem, bits: Uint8Array): Choice {
  let load0 = p.fixedLoad0;
  let moves = p.fixedMoves;
  p.units.forEach((u, i) => {
    const o = u.options[bits[i]];
    load0 += o.load0;
    moves += o.moves;
  });
  return { bits, load0, moves };
}
