import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ResolvedModule } from '../../src/config';
import type { CycleReport } from '../../src/agent/cycle-report';
import { ModuleRunner } from '../../src/agent/module-runner';
import { Semaphore } from '../../src/agent/semaphore';
import { VmmirrorError, hasCode } from '../../src/errors';
import { componentLogger } from '../../src/log';

const log = componentLogger('test');

function mod(name: string, interval: number | string = 1): ResolvedModule {
  return {
    name,
    file: `modules/${name}.json`,
    vmName: name,
    disks: 'auto',
    defaultPrimary: 'hv1',
    replication: { interval, compression: 'none', blockSize: 65536 },
    policies: { failback: 'auto', stopMode: 'Shutdown', stopTimeoutSeconds: 1, startTimeoutSeconds: 1 },
    hooks: {},
  };
}

function report(module: string, generation: number): CycleReport {
  const now = new Date();
  return { module, epoch: 1, startedAt: now, finishedAt: now, durationMs: 0, fromGeneration: generation - 1, toGeneration: generation, detection: 'Scan',
    consistency: 'Crash', scanReason: null, bytesScanned: 0, bytesChanged: 0, blocksChanged: 0, streamBytes: 0, wireBytes: 0, manifestBytes: 0, compression: 'none', changedRangeBytes: null, takenAt: now, files: [] };
}

describe('src/agent/module-runner', function () {
  this.timeout(20_000);

  it('skips schedule ticks while its cycle runs, so a cycle never overlaps itself', async () => {
    let active = 0;
    let overlap = false;
    let calls = 0;
    const r = new ModuleRunner(mod('web1', 1), {
      epoch: () => 1,
      semaphore: new Semaphore(4),
      log,
      cycle: async (m) => {
        calls += 1;
        active += 1;
        if (active > 1) overlap = true;
        await sleep(2200);
        active -= 1;
        return report(m.name, calls);
      },
    });
    r.start();
    await sleep(4500);
    await r.stop(5000);
    expect(overlap).to.equal(false);
    expect(calls).to.be.within(1, 2);
  });

  it('runs at most MaxConcurrentCycles cycles at once across modules', async () => {
    const sem = new Semaphore(1);
    let active = 0;
    let peak = 0;
    const cycle = async (m: ResolvedModule): Promise<CycleReport> => {
      active += 1;
      peak = Math.max(peak, active);
      await sleep(150);
      active -= 1;
      return report(m.name, 1);
    };
    const runners = ['a', 'b', 'c'].map((n) => new ModuleRunner(mod(n), {
      epoch: () => 1, semaphore: sem, log, cycle }));
    const reports = await Promise.all(runners.map((r) => r.syncNow()));
    expect(reports.map((x) => x.module)).to.deep.equal(['a', 'b', 'c']);
    expect(peak).to.equal(1);
  });

  it('records the last error and clears it on the next success', async () => {
    let fail = true;
    const r = new ModuleRunner(mod('web1', 1), {
      epoch: () => 1,
      semaphore: new Semaphore(1),
      log,
      cycle: async (m) => {
        if (fail) throw new VmmirrorError('PEER_UNREACHABLE', 'peer gone');
        return report(m.name, 7);
      },
    });
    const err = await r.syncNow().then(() => null, (e: unknown) => e);
    expect(hasCode(err, 'PEER_UNREACHABLE')).to.equal(true);
    expect(r.lastError?.code).to.equal('PEER_UNREACHABLE');
    fail = false;
    expect((await r.syncNow()).toGeneration).to.equal(7);
    expect(r.lastError).to.equal(null);
  });

  it('runs a scheduled cycle only while the cluster layer names an epoch, under that epoch', async () => {
    let epoch: number | null = null;
    const ran: number[] = [];
    const s = new ModuleRunner(mod('db1', 1), {
      epoch: () => epoch,
      semaphore: new Semaphore(1),
      log,
      cycle: async (m, o) => {
        ran.push(o.epoch);
        return report(m.name, ran.length);
      },
    });
    s.start();
    await sleep(2300);
    expect(ran, 'no epoch: this host does not send').to.deep.equal([]);
    expect(hasCode(await s.syncNow().then(() => null, (e: unknown) => e), 'MODULE_NOT_PRIMARY')).to.equal(true);
    expect((await s.syncNow(4)).toGeneration, 'a forced epoch (resync, final cycle) runs').to.equal(1);
    epoch = 5;
    await sleep(2300);
    await s.stop(1000);
    expect(ran[0]).to.equal(4);
    expect(ran.slice(1).length).to.be.within(1, 3);
    expect(new Set(ran.slice(1))).to.deep.equal(new Set([5]));
  });

  it('aborts the in-flight cycle when the grace period ends', async () => {
    let aborted = false;
    const r = new ModuleRunner(mod('web1', 3600), {
      epoch: () => 1,
      semaphore: new Semaphore(1),
      log,
      cycle: (_m, { signal }) =>
        new Promise<CycleReport>((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            aborted = true;
            reject(signal.reason as Error);
          });
        }),
    });
    const running = r.syncNow().then(() => null, (e: unknown) => e);
    await sleep(50);
    const t0 = Date.now();
    await r.stop(300);
    expect(Date.now() - t0).to.be.within(250, 2000);
    expect(aborted).to.equal(true);
    expect(hasCode(await running, 'CANCELLED')).to.equal(true);
  });
});
