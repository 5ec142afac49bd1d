import { expect } from 'chai';
import { planBalance, type BalanceItem, type BalanceMethod } from '../../src/balance/plan';
import { hasCode } from '../../src/errors';
import { seeded } from '../helpers/seed';
import { bruteForce } from './brute-force';

const HOSTS = ['hva', 'hvb'] as const;

function randomSet(rnd: ReturnType<typeof seeded>, n: number): BalanceItem[] {
  const groups = ['dc', 'sql', 'web'];
  // Loads are small multiples of 1/8 (exact in floating point) so ties are frequent.
  const fine = rnd.rand() < 0.5;
  return Array.from({ length: n }, (_, i) => ({
    name: `m${String.fromCharCode(97 + rnd.int(0, 25))}${i}`,
    load: fine ? rnd.int(0, 80) / 8 : rnd.int(0, 6),
    current: HOSTS[rnd.int(0, 1)],
    ...(rnd.rand() < 0.15 ? { pin: rnd.rand() < 0.5 ? 'HVA' : 'hvb' } : {}),
    ...(rnd.rand() < 0.3 ? { group: groups[rnd.int(0, 2)] } : {}),
  }));
}

function heavier(plan: ReturnType<typeof planBalance>): number {
  return Math.max(...plan.hosts.map((h) => h.proposedLoad));
}

function feasible(items: BalanceItem[], plan: ReturnType<typeof planBalance>): boolean {
  const at = new Map(plan.assignments.map((a) => [a.name, a.proposed]));
  for (const it of items) if (it.pin !== undefined && at.get(it.name) !== it.pin.toLowerCase()) return false;
  for (const a of items) for (const b of items) if (a !== b && a.group !== undefined && a.group === b.group && at.get(a.name) === at.get(b.name)) return false;
  return true;
}

/** Host A minus host B over the pinned modules and the group partners pinned ones push across. */
function fixedImbalance(items: BalanceItem[]): number {
  const side = new Map<string, number>();
  for (const it of items) if (it.pin !== undefined) side.set(it.name, it.pin.toLowerCase() === 'hva' ? 1 : -1);
  for (const it of items) {
    const partner = items.find((o) => o !== it && o.group !== undefined && o.group === it.group && o.pin !== undefined);
    if (it.pin === undefined && partner !== undefined) side.set(it.name, -(side.get(partner.name) as number));
  }
  return items.reduce((s, it) => s + (side.get(it.name) ?? 0) * it.load, 0);
}

describe('balance optimiser', () => {
  for (const method of ['enumeration', 'dp'] as BalanceMethod[]) {
    it(`${method}: equals brute force on 300 seeded random sets (pins, groups, ties, infeasible groups)`, () => {
      const rnd = seeded(`balance brute force ${method}`);
      process.stderr.write(`    seed ${rnd.seed}\n`);
      let infeasible = 0;
      let withMoves = 0;
      for (let round = 0; round < 300; round++) {
        const items = randomSet(rnd, rnd.int(0, 13));
        const judge = bruteForce(HOSTS, items);
        const label = `round ${round}: ${JSON.stringify(items)}`;
        if (judge.hosts === null) {
          infeasible++;
          expect(() => planBalance({ hosts: HOSTS, items, method }), label).to.throw().that.satisfies((e: unknown) => hasCode(e, 'BALANCE_INFEASIBLE'));
          continue;
        }
        const plan = planBalance({ hosts: HOSTS, items, method });
        expect(plan.exact, label).to.equal(true);
        expect(plan.assignments.map((a) => a.proposed), label).to.deep.equal(judge.hosts.map((h) => HOSTS[h]));
        expect(heavier(plan), label).to.equal(judge.heavier);
        expect(plan.moves.length, label).to.equal(judge.moves);
        if (plan.moves.length > 0) withMoves++;
      }
      // The sets must exercise both branches, or the comparison proves little.
      expect(infeasible).to.be.within(10, 200);
      expect(withMoves).to.be.greaterThan(50);
    });
  }

  it('heuristic: always feasible, within the greedy bound, and optimal on most small sets', () => {
    const rnd = seeded('balance heuristic');
    process.stderr.write(`    seed ${rnd.seed}\n`);
    let optimal = 0;
    let loadOptimal = 0;
    let feasibleSets = 0;
    for (let round = 0; round < 300; round++) {
      const items = randomSet(rnd, rnd.int(1, 13));
      const judge = bruteForce(HOSTS, items);
      if (judge.hosts === null) continue;
      feasibleSets++;
      const plan = planBalance({ hosts: HOSTS, items, method: 'heuristic' });
      const label = `round ${round}: ${JSON.stringify(items)}`;
      expect(plan.exact).to.equal(false);
      expect(feasible(items, plan), label).to.equal(true);
      // Largest-difference-first guarantees |A - B| <= max(the imbalance of what is fixed, the
      // largest load): each free choice leaves the running imbalance at most max(before, its load).
      const gap = Math.abs(plan.hosts[0].proposedLoad - plan.hosts[1].proposedLoad);
      expect(gap, label).to.be.at.most(Math.max(Math.abs(fixedImbalance(items)), ...items.map((it) => it.load)));
      if (heavier(plan) === judge.heavier) loadOptimal++;
      if (heavier(plan) === judge.heavier && plan.moves.length === judge.moves) optimal++;
    }
    process.stderr.write(`    heuristic optimal on ${loadOptimal} of ${feasibleSets} small sets (and with the fewest moves on ${optimal})\n`);
    expect(loadOptimal / feasibleSets).to.be.greaterThan(0.75);
  });

  it('keeps everything where it is when that is already optimal, and names the moves otherwise', () => {
    const even = planBalance({ hosts: HOSTS, items: [{ name: 'a', load: 4, current: 'hvb' }, { name: 'b', load: 4, current: 'hva' }] });
    expect(even.moves).to.deep.equal([]);
    const lopsided = planBalance({ hosts: HOSTS, items: [{ name: 'a', load: 4, current: 'hva' }, { name: 'b', load: 4, current: 'hva' }, { name: 'c', load: 1, current: 'hva', pin: 'hva' }] });
    // Moving a or b both give 5/4; the tie break keeps the alphabetically first on the first host.
    expect(lopsided.moves).to.deep.equal([{ name: 'b', from: 'hva', to: 'hvb' }]);
    expect(lopsided.hosts).to.deep.equal([{ name: 'hva', currentLoad: 9, proposedLoad: 5 }, { name: 'hvb', currentLoad: 0, proposedLoad: 4 }]);
  });

  it('refuses contradictions with BALANCE_INFEASIBLE naming the group and modules', () => {
    const three = [1, 2, 3].map((i) => ({ name: `dc${i}`, load: 1, current: 'hva', group: 'DC' }));
    expect(() => planBalance({ hosts: HOSTS, items: three })).to.throw(/group DC has 3 members \(dc1, dc2, dc3\)/);
    const pinned = [{ name: 'x', load: 1, current: 'hva', pin: 'hva', group: 'g' }, { name: 'y', load: 1, current: 'hvb', pin: 'hva', group: 'g' }];
    expect(() => planBalance({ hosts: HOSTS, items: pinned })).to.throw(/x, y are both pinned to hva/);
    expect(() => planBalance({ hosts: HOSTS, items: [{ name: 'x', load: -1, current: 'hva' }] })).to.throw(/load -1/);
    expect(() => planBalance({ hosts: HOSTS, items: [{ name: 'x', load: 1, current: 'hvc' }] })).to.throw(/hvc/);
  });

  it('plans 200 modules fast: exact DP for whole-unit weights, the heuristic close to it (sanity bound; the figure is in npm run bench)', () => {
    const rnd = seeded('balance 200');
    process.stderr.write(`    seed ${rnd.seed}\n`);
    const items: BalanceItem[] = Array.from({ length: 200 }, (_, i) => ({
      name: `vm${String(i).padStart(3, '0')}`,
      load: rnd.int(1, 64) + rnd.int(1, 16),
      current: HOSTS[rnd.int(0, 1)],
      ...(i % 25 === 0 ? { pin: HOSTS[rnd.int(0, 1)] } : {}),
      ...(i % 10 === 1 ? { group: `pair${i}` } : i % 10 === 2 ? { group: `pair${i - 1}` } : {}),
    }));
    let t = process.hrtime.bigint();
    const dp = planBalance({ hosts: HOSTS, items });
    const dpMs = Number(process.hrtime.bigint() - t) / 1e6;
    expect(dp.method).to.equal('dp');
    t = process.hrtime.bigint();
    const h = planBalance({ hosts: HOSTS, items, method: 'heuristic' });
    const hMs = Number(process.hrtime.bigint() - t) / 1e6;
    // Memory in MiB makes the loads fine-grained: too wide for the DP, so the heuristic runs.
    const fine = items.map((it) => ({ ...it, load: it.load + rnd.int(0, 1023) / 1024 }));
    t = process.hrtime.bigint();
    const f = planBalance({ hosts: HOSTS, items: fine });
    const fMs = Number(process.hrtime.bigint() - t) / 1e6;
    expect(f.method).to.equal('heuristic');
    process.stderr.write(`    200 modules: dp ${dpMs.toFixed(1)} ms (heavier ${heavier(dp)}), heuristic ${hMs.toFixed(1)} ms (heavier ${heavier(h)}), fine loads heuristic ${fMs.toFixed(1)} ms\n`);
    expect(feasible(items, dp) && feasible(items, h) && feasible(fine, f)).to.equal(true);
    expect(heavier(h)).to.be.at.least(heavier(dp));
    expect(heavier(h) - heavier(dp)).to.be.at.most(1);
    expect(Math.max(dpMs, hMs, fMs)).to.be.below(1000);
  });
});
