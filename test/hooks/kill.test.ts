import { expect } from 'chai';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { HOOK_OUTPUT_TAIL_BYTES, runHook } from '../../src/hooks';
import { pwshPath } from '../hypervisor/hyperv/pwsh';
import { hookFixture, type HookFixture } from './fixture';

// A hook that hangs is killed at its timeout with every process it started; an abort (agent
// shutdown) does the same; a hook that floods its output costs bounded memory.

/** Alive and not a zombie (a killed child reparented to a non-reaping PID 1 lingers as Z). */
async function alive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const st = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return st.length > 0 && !/^\d+ \(.*\) Z /.test(st);
}

/** Waits (with a deadline) until every pid is gone; returns the ones still alive at the deadline. */
async function gone(pids: number[], deadlineMs = 10_000): Promise<number[]> {
  const end = performance.now() + deadlineMs;
  for (;;) {
    const left: number[] = [];
    for (const p of pids) if (await alive(p)) left.push(p);
    if (left.length === 0 || performance.now() > end) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resolves with the two pids Wait-Forever.ps1 wrote (it renames the file into place, so it is whole). */
async function waitForPids(f: HookFixture, deadlineMs = 60_000): Promise<number[]> {
  const file = join(f.hooksDir, 'pids.txt');
  const end = performance.now() + deadlineMs;
  while (performance.now() < end) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (text.trim().length > 0) return text.trim().split(/\s+/).map(Number);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the hook never wrote its pids');
}

describe('hooks: timeout, abort, flood (pwsh)', function () {
  let f: HookFixture;
  before(async () => {
    f = await hookFixture();
  });
  after(() => f.cleanup());

  it('kills a hanging hook at its timeout, and the child it started with it', async () => {
    // The timeout is the module's own setting. It must leave pwsh time to start and write its pids
    // under a loaded machine: 2 s, or twice a measured start when that is slower.
    const t0 = performance.now();
    const warm = await runHook('PostStop', f.module({ postStop: 'hooks/Record-Call.ps1' }), { configDir: f.dir, host: 'hva', reason: 'manual', facts: { epoch: 1 } }, { executable: pwshPath() });
    expect(warm).to.include({ ok: true });
    const timeoutSeconds = Math.max(2, Math.ceil((2 * (performance.now() - t0)) / 1000));
    process.stderr.write(`      a pwsh hook took ${Math.round(performance.now() - t0)} ms; timeout ${timeoutSeconds} s\n`);
    const m = f.module({ preStart: 'hooks/Wait-Forever.ps1', timeoutSeconds });
    const pidsSeen = waitForPids(f);
    const r = await runHook('PreStart', m, { configDir: f.dir, host: 'hva', reason: 'failover', facts: { epoch: 2 } }, { executable: pwshPath() });
    expect(r).to.include({ ok: false, timedOut: true, aborted: false, exitCode: null });
    expect(r!.durationMs).to.be.at.least(timeoutSeconds * 1000 - 5);
    expect(r!.durationMs, 'killed soon after the timeout, not when the script would end').to.be.below(timeoutSeconds * 1000 + 10_000);
    const [hookPid, childPid] = await pidsSeen;
    expect(hookPid).to.be.a('number').above(0);
    expect(childPid).to.be.a('number').above(0).and.not.equal(hookPid);
    expect(await gone([hookPid!, childPid!]), 'processes still alive after the timeout').to.deep.equal([]);
  });

  it('an abort (agent shutdown) kills the hook and its child at once, whatever the timeout', async () => {
    await rm(join(f.hooksDir, 'pids.txt'), { force: true });
    const ac = new AbortController();
    const m = f.module({ preStop: 'hooks/Wait-Forever.ps1', timeoutSeconds: 3600 });
    const running = runHook('PreStop', m, { configDir: f.dir, host: 'hva', reason: 'drain', facts: { epoch: 3 } }, { executable: pwshPath(), signal: ac.signal });
    const pids = await waitForPids(f);
    ac.abort();
    const r = await running;
    expect(r).to.include({ ok: false, timedOut: false, aborted: true, exitCode: null });
    expect(await gone(pids)).to.deep.equal([]);
  });

  it('keeps only the tails of a hook that floods stdout and stderr (160 MiB): memory stays bounded', async () => {
    const m = f.module({ postStart: 'hooks/Write-Flood.ps1' });
    const base = process.memoryUsage().rss;
    let peak = base;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    let r;
    try {
      r = await runHook('PostStart', m, { configDir: f.dir, host: 'hva', reason: 'manual', facts: { epoch: 1 } }, { executable: pwshPath() });
    } finally {
      clearInterval(sampler);
    }
    expect(r).to.include({ ok: true, exitCode: 0 });
    for (const [tail, mib] of [[r!.stdoutTail, 128], [r!.stderrTail, 32]] as const) {
      const total = mib * 1048576 + '\nflood-end\n'.length;
      const header = `[${total - HOOK_OUTPUT_TAIL_BYTES} earlier bytes dropped]\n`;
      expect(tail.startsWith(header), tail.slice(0, 80)).to.equal(true);
      expect(tail.length).to.equal(header.length + HOOK_OUTPUT_TAIL_BYTES);
      expect(tail.endsWith('x\nflood-end\n')).to.equal(true);
    }
    const grownMiB = (peak - base) / 1048576;
    process.stderr.write(`      flood: 160 MiB through the hook's pipes, peak RSS growth ${grownMiB.toFixed(1)} MiB\n`);
    expect(grownMiB, 'RSS growth while 160 MiB flowed (buffering it would be 160+)').to.be.below(80);
  });
});
