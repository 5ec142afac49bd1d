// Failpoints for crash tests: with VMMIRROR_CRASHPOINT=<name>:<n> the process SIGKILLs itself the
// n-th time it reaches <name> (n defaults to 1). Unset, each call is one string compare.
// Tests use them to crash S and P at every step of a cycle (DESIGN invariants I1, I2).

const spec = process.env.VMMIRROR_CRASHPOINT;
const [target, nth] = spec ? [spec.split(':')[0], Number(spec.split(':')[1] ?? '1')] : [undefined, 0];
let hits = 0;

/** Marks a point where a crash must be survivable. */
export function crashpoint(name: string): void {
  if (target !== name) return;
  hits += 1;
  if (hits === nth) process.kill(process.pid, 'SIGKILL');
}
