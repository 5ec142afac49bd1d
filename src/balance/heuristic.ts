import { type Choice, type Problem, better, evaluate, imbalance } from './units';

// For sets too large to solve exactly: greedy largest-difference-first, then local search (flip
// one unit, or two at once) that accepts any step better in units.ts `better` order, from two
// starts (the greedy one and the current assignment, which has no moves), keeping the better.
// Each accepted step strictly improves (imbalance, moves, bits), so the search ends.

/** Greedy: units by decreasing |difference between options|, each taking the option that leaves the smaller partial imbalance. */
function greedy(p: Problem): Uint8Array {
  const bits = new Uint8Array(p.units.length);
  const byDifference = p.units.map((u, i) => ({ i, d: Math.abs(u.options[0].load0 - u.options[1].load0) })).sort((a, b) => b.d - a.d || a.i - b.i);
  // Fixed items first: their imbalance is what the free units have to correct.
  let diff = 2 * p.fixedLoad0 - p.order.reduce((s, it, i) => s + (p.fixed[i] === -1 ? 0 : it.q), 0);
  for (const { i } of byDifference) {
    const u = p.units[i];
    const unitTotal = u.members.reduce((s, m) => s + p.order[m].q, 0);
    const d0 = Math.abs(diff + 2 * u.options[0].load0 - unitTotal);
    const d1 = Math.abs(diff + 2 * u.options[1].load0 - unitTotal);
    const pick = d1 < d0 || (d1 === d0 && u.options[1].moves < u.options[0].moves) ? 1 : 0;
    bits[i] = pick;
    diff += 2 * u.options[pick].load0 - unitTotal;
  }
  return bits;
}

/** The bits closest to where every unit is now (a pair whose two members share a host now: either option moves one; option 0). */
function current(p: Problem): Uint8Array {
  return Uint8Array.from(p.units.map((u) => (u.options[1].moves < u.options[0].moves ? 1 : 0)));
}

function improve(p: Problem, start: Uint8Array): Choice {
  let best = evaluate(p, start.slice());
  const { bits } = best;
  const k = bits.length;
  const flipGain = (i: number): { load0: number; moves: number } => {
    const u = p.units[i];
    const from = u.options[bits[i]];
    const to = u.options[bits[i] ^ 1];
    return { load0: to.load0 - from.load0, moves: to.moves - from.moves };
  };
  // Would flipping units (the lowest of them `first`) to these totals beat `best`? Same order as `better`.
  const wins = (load0: number, moves: number, first: number): boolean => {
    const im = imbalance(p, load0);
    const ib = imbalance(p, best.load0);
    if (im !== ib) return im < ib;
    if (moves !== best.moves) return moves < best.moves;
    return bits[first] === 1; // the first flipped unit goes from option 1 to option 0
  };
  for (let improved = true; improved; ) {
    improved = false;
    for (let i = 0; i < k; i++) {
      const g = flipGain(i);
      if (wins(best.load0 + g.load0, best.moves + g.moves, i)) {
        bits[i] ^= 1;
        best = { bits, load0: best.load0 + g.load0, moves: best.moves + g.moves };
        improved = true;
      }
    }
    for (let i = 0; i < k; i++) {
      for (let j = i + 1; j < k; j++) {
        const gi = flipGain(i);
        const gj = flipGain(j);
        if (wins(best.load0 + gi.load0 + gj.load0, best.moves + gi.moves + gj.moves, i)) {
          bits[i] ^= 1;
          bits[j] ^= 1;
          best = { bits, load0: best.load0 + gi.load0 + gj.load0, moves: best.moves + gi.moves + gj.moves };
          improved = true;
        }
      }
    }
  }
  return best;
}

/** A good assignment fast (no optimality proof). */
export function heuristic(p: Problem): Choice {
  const a = improve(p, greedy(p));
  const b = improve(p, current(p));
  return better(p, b, a) ? b : a;
}
