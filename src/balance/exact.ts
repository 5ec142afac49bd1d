import { type Choice, type Problem, better, evaluate, imbalance } from './units';

// The exact methods. Both return the best choice in the order of units.ts `better`: smallest
// imbalance, then fewest moves, then the option bits (first unit first, option 0 first).

/** Largest number of decisions enumerated (2^20 candidates, a few milliseconds). */
export const ENUMERATION_MAX_UNITS = 20;
/** Largest DP table (units + 1) x (load range + 1), in cells of 2 bytes (40 MB). */
export const DP_MAX_CELLS = 20_000_000;

/** Every assignment, in Gray-code order (one unit changes per step, so each costs O(1)). */
export function enumerate(p: Problem): Choice {
  const k = p.units.length;
  if (k > 30) throw new RangeError('enumeration is for small sets');
  const bits = new Uint8Array(k);
  let load0 = p.fixedLoad0;
  let moves = p.fixedMoves;
  for (const u of p.units) {
    load0 += u.options[0].load0;
    moves += u.options[0].moves;
  }
  let best: Choice = { bits: bits.slice(), load0, moves };
  const count = 2 ** k;
  for (let step = 1; step < count; step++) {
    // Gray code: the unit to flip is the lowest set bit of `step`.
    const i = 31 - Math.clz32(step & -step);
    const u = p.units[i];
    const from = u.options[bits[i]];
    bits[i] ^= 1;
    const to = u.options[bits[i]];
    load0 += to.load0 - from.load0;
    moves += to.moves - from.moves;
    const im = imbalance(p, load0);
    const ib = imbalance(p, best.load0);
    if (im < ib || (im === ib && moves <= best.moves)) {
      const cand = { bits, load0, moves };
      if (better(p, cand, best)) best = { bits: bits.slice(), load0, moves };
    }
  }
  return best;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** The DP's scale and table size, or null when the table would be too large. */
export function dpSize(p: Problem): { scale: number; width: number } | null {
  let g = 0;
  for (const u of p.units) for (const o of u.options) g = gcd(g, o.load0);
  const scale = g === 0 ? 1 : g;
  let width = 1;
  for (const u of p.units) width += Math.max(u.options[0].load0, u.options[1].load0) / scale;
  return (p.units.length + 1) * width <= DP_MAX_CELLS ? { scale, width } : null;
}

const INF = 0xffff;

/**
 * Subset-sum DP over the host-0 load the units add, in units of the gcd of their loads (exact:
 * every load is a multiple of it). suffix[i][s] = fewest moves of units i.. that add exactly s.
 * The best reachable s is then rebuilt unit by unit taking option 0 whenever it still reaches the
 * optimum, which gives the smallest option bits among the optima of that s.
 */
export function dynamicProgramme(p: Problem): Choice {
  const size = dpSize(p);
  if (size === null) throw new RangeError('the DP table would be too large');
  const { scale, width } = size;
  const k = p.units.length;
  if (2 * p.order.length >= INF) throw new RangeError('too many modules for the DP');
  const table = new Uint16Array((k + 1) * width).fill(INF);
  table[k * width] = 0;
  for (let i = k - 1; i >= 0; i--) {
    const next = (i + 1) * width;
    const row = i * width;
    for (const o of p.units[i].options) {
      const c = o.load0 / scale;
      for (let s = c; s < width; s++) {
        const prev = table[next + s - c];
        if (prev !== INF && prev + o.moves < table[row + s]) table[row + s] = prev + o.moves;
      }
    }
  }
  // First the best (imbalance, moves) over every reachable sum; then rebuild only the sums that
  // reach it (at most two: s and its mirror) and keep the smaller option bits.
  let bestImbalance = Infinity;
  let bestMoves = Infinity;
  for (let s = 0; s < width; s++) {
    if (table[s] === INF) continue;
    const im = imbalance(p, p.fixedLoad0 + s * scale);
    const moves = p.fixedMoves + table[s];
    if (im < bestImbalance || (im === bestImbalance && moves < bestMoves)) [bestImbalance, bestMoves] = [im, moves];
  }
  let best: Choice | null = null;
  for (let s = 0; s < width; s++) {
    if (table[s] === INF || imbalance(p, p.fixedLoad0 + s * scale) !== bestImbalance || p.fixedMoves + table[s] !== bestMoves) continue;
    const cand = evaluate(p, rebuild(p, table, width, scale, s));
    if (best === null || better(p, cand, best)) best = cand;
  }
  if (best === null) throw new RangeError('the DP reached no sum (impossible: the empty choice adds 0)');
  return best;
}

function rebuild(p: Problem, table: Uint16Array, width: number, scale: number, target: number): Uint8Array {
  const bits = new Uint8Array(p.units.length);
  let s = target;
  for (let i = 0; i < p.units.length; i++) {
    const need = table[i * width + s];
    const next = (i + 1) * width;
    const o0 = p.units[i].options[0];
    const c0 = o0.load0 / scale;
    const via0 = s >= c0 ? table[next + s - c0] : INF;
    if (via0 !== INF && via0 + o0.moves === need) {
      s -= c0;
    } else {
      bits[i] = 1;
      s -= p.units[i].options[1].load0 / scale;
    }
  }
  return bits;
}
