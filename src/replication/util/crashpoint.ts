import { openSync, writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

// Failpoints for crash tests: with VMMIRROR_CRASHPOINT=<name>:<n> the process SIGKILLs itself the
// n-th time it reaches <name> (n defaults to 1). Both unset, each call is two compares.
// Tests use them to crash S and P at every step of a cycle (DESIGN invariants I1, I2).
//
// Phase trace: with VMMIRROR_PHASE_TRACE=<file>, every crashpoint whose name differs from the
// previous one appends "<name>\t<epoch ms>\n" to that file. A test that SIGKILLs the process at a
// random instant reads the last line to learn where the signal landed. The write is synchronous
// (writeSync on an fd opened once): once it returns the kernel holds the bytes, so they survive
// SIGKILL, and the line is always written before the code after the crashpoint runs. Only name
// changes are written, so a loop over blocks costs one line, not one per block (a local run
// alternates send-block and receive-block: two lines per block, still a few microseconds each).

const spec = process.env.VMMIRROR_CRASHPOINT;
const [target, nth] = spec ? [spec.split(':')[0], Number(spec.split(':')[1] ?? '1')] : [undefined, 0];
let hits = 0;

const traceFile = process.env.VMMIRROR_PHASE_TRACE || undefined;
let traceFd: number | undefined;
let lastTraced: string | undefined;

/** Marks a point where a crash must be survivable. */
export function crashpoint(name: string): void {
  if (traceFile !== undefined && name !== lastTraced) trace(name);
  if (target !== name) return;
  hits += 1;
  if (hits === nth) process.kill(process.pid, 'SIGKILL');
}

function trace(name: string): void {
  lastTraced = name;
  // 'a': every write lands at the end, so a file shared by several runs keeps whole lines.
  traceFd ??= openSync(traceFile as string, 'a');
  const at = (performance.timeOrigin + performance.now()).toFixed(3);
  writeSync(traceFd, `${name}\t${at}\n`);
}
