import { dpSize, dynamicProgramme, enumerate, ENUMERATION_MAX_UNITS } from './exact';
import { heuristic } from './heuristic';
import type { BalanceInput, BalanceMethod, BalancePlan } from './types';
import { type Choice, type Problem, buildProblem } from './units';

// The balancing optimiser (pure): default primaries for every module so that the heavier host's
// load is as small as possible, honouring pins and anti-affinity groups; among equal optima the
// fewest moves; among those the assignment that puts the alphabetically first differing module
// on the cluster's first host. docs/balance.md describes the methods and when each is used.

export type { BalanceInput, BalanceItem, BalanceMethod, BalancePlan } from './types';

function pickMethod(p: Problem, asked: BalanceInput['method']): BalanceMethod {
  if (asked !== undefined && asked !== 'auto') return asked;
  if (p.units.length <= ENUMERATION_MAX_UNITS) return 'enumeration';
  return dpSize(p) !== null ? 'dp' : 'heuristic';
}

function solve(p: Problem, method: BalanceMethod): Choice {
  switch (method) {
    case 'enumeration':
      return enumerate(p);
    case 'dp':
      return dynamicProgramme(p);
    case 'heuristic':
      return heuristic(p);
  }
}

/** Loads are reported to the thousandth of a unit (the sums are of the loads as given, not the quanta). */
function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Plans the default primaries; throws BALANCE_INFEASIBLE when pins and groups contradict each other. */
export function planBalance(input: BalanceInput): BalancePlan {
  const p = buildProblem(input);
  const method = pickMethod(p, input.method);
  const choice = solve(p, method);
  const proposed = [...p.fixed];
  p.units.forEach((u, i) => u.options[choice.bits[i]].hosts.forEach((h, m) => (proposed[u.members[m]] = h)));
  const current = [0, 0];
  const next = [0, 0];
  p.order.forEach((it, i) => {
    current[it.current] += it.load;
    next[proposed[i]] += it.load;
  });
  const assignments = p.order.map((it, i) => ({ name: it.name, load: it.load, current: p.hosts[it.current], proposed: p.hosts[proposed[i]] }));
  return {
    method,
    exact: method !== 'heuristic',
    hosts: p.hosts.map((name, h) => ({ name, currentLoad: round3(current[h]), proposedLoad: round3(next[h]) })),
    assignments,
    moves: assignments.filter((a) => a.current !== a.proposed).map((a) => ({ name: a.name, from: a.current, to: a.proposed })),
  };
}
