// Seeded randomness for tests: every random choice goes through here, and the seed is printed
// so a failure can be replayed with VMMIRROR_TEST_SEED=<seed>.

/** mulberry32: small, fast, good enough for choosing offsets and crash points. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const fromEnv = process.env.VMMIRROR_TEST_SEED;
/** The suite's base seed: from VMMIRROR_TEST_SEED, else derived from the clock (and printed). */
export const baseSeed: number = fromEnv !== undefined ? Number(fromEnv) >>> 0 : (Date.now() ^ (process.pid << 8)) >>> 0;

/** A seeded generator for one test; `label` keeps tests independent of each other's draws. */
export function seeded(label: string): { seed: number; rand: () => number; int: (lo: number, hi: number) => number } {
  let h = baseSeed;
  for (const c of label) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  const rand = prng(h);
  return { seed: h, rand, int: (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1)) };
}
