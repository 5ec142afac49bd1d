import { planBalance, type BalanceItem, type BalanceMethod } from '../src/balance/plan';

// Balancing: planning time for 200 and 1000 modules (median of interleaved runs, after a warm-up),
// with the loads an operator has: whole-unit Weights (the exact DP), or memory in MiB + vCPUs
// (too fine for the DP: the heuristic), pins on 1 module in 25 and anti-affinity pairs on 1 in 5;
// and how far the heuristic lands from the exact optimum on sets the DP can solve.
// Run alone: TS_NODE_TRANSPILE_ONLY=true node -r ts-node/register bench/balance.ts

export interface BalanceBenchRow {
  name: string;
  modules: number;
  method: BalanceMethod;
  medianMs: number;
  worstMs: number;
}
export interface BalanceBenchResult {
  seed: number;
  rows: BalanceBenchRow[];
  /** Over seeded sets of 200 whole-unit modules: heavier host's load, heuristic minus exact. */
  heuristicGap: { sets: number; optimal: number; worstExtraLoad: number; worstExtraPercent: number };
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function modules(n: number, rand: () => number, fine: boolean): BalanceItem[] {
  const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
  return Array.from({ length: n }, (_, i) => ({
    name: `vm${String(i).padStart(4, '0')}`,
    // memory 1..64 GiB (+ MiB when fine) + 1..16 vCPUs
    load: int(1, 64) + int(1, 16) + (fine ? int(0, 1023) / 1024 : 0),
    current: rand() < 0.5 ? 'hva' : 'hvb',
    ...(i % 25 === 0 ? { pin: rand() < 0.5 ? 'hva' : 'hvb' } : {}),
    ...(i % 10 === 1 ? { group: `g${i}` } : i % 10 === 2 ? { group: `g${i - 1}` } : {}),
  }));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function heavier(items: BalanceItem[], method?: BalanceMethod): number {
  return Math.max(...planBalance({ hosts: ['hva', 'hvb'], items, ...(method ? { method } : {}) }).hosts.map((h) => h.proposedLoad));
}

export function benchBalance(o: { seed: number; runs?: number }): BalanceBenchResult {
  const rand = rng(o.seed);
  const runs = o.runs ?? 15;
  const cases = [
    { name: '200 modules, whole-unit weights', items: modules(200, rand, false) },
    { name: '200 modules, memory MiB + vCPUs', items: modules(200, rand, true) },
    { name: '1000 modules, whole-unit weights', items: modules(1000, rand, false) },
    { name: '1000 modules, memory MiB + vCPUs', items: modules(1000, rand, true) },
  ];
  const times = cases.map(() => [] as number[]);
  for (const c of cases) planBalance({ hosts: ['hva', 'hvb'], items: c.items }); // warm-up (JIT)
  for (let r = 0; r < runs; r++) {
    cases.forEach((c, i) => {
      const t = process.hrtime.bigint();
      planBalance({ hosts: ['hva', 'hvb'], items: c.items });
      times[i].push(Number(process.hrtime.bigint() - t) / 1e6);
    });
  }
  const rows = cases.map((c, i) => ({ name: c.name, modules: c.items.length, method: planBalance({ hosts: ['hva', 'hvb'], items: c.items }).method, medianMs: median(times[i]), worstMs: Math.max(...times[i]) }));
  const gap = { sets: 20, optimal: 0, worstExtraLoad: 0, worstExtraPercent: 0 };
  for (let s = 0; s < gap.sets; s++) {
    const items = modules(200, rand, false);
    const exact = heavier(items, 'dp');
    const extra = heavier(items, 'heuristic') - exact;
    if (extra === 0) gap.optimal++;
    gap.worstExtraLoad = Math.max(gap.worstExtraLoad, extra);
    gap.worstExtraPercent = Math.max(gap.worstExtraPercent, (100 * extra) / exact);
  }
  return { seed: o.seed, rows, heuristicGap: gap };
}

/** Rows for bench/run.ts's table. */
export function balanceRows(r: BalanceBenchResult): Array<[string, string, string]> {
  return [
    ...r.rows.map((row): [string, string, string] => [`balance: ${row.name}`, `${row.medianMs.toFixed(1)} ms (worst ${row.worstMs.toFixed(1)})`, `${row.method} (target: 200 modules well under 1 s)`]),
    ['balance: heuristic vs exact, 200 modules', `optimal on ${r.heuristicGap.optimal} of ${r.heuristicGap.sets}`, `worst +${r.heuristicGap.worstExtraLoad} load (${r.heuristicGap.worstExtraPercent.toFixed(3)}%)`],
  ];
}

if (require.main === module) {
  const result = benchBalance({ seed: Number(process.env.BENCH_SEED ?? Date.now() % 2 ** 31) });
  for (const [a, b, c] of balanceRows(result)) process.stdout.write(`${a.padEnd(48)} ${b.padEnd(28)} ${c}\n`);
  process.stdout.write(`seed ${result.seed}\n`);
}
