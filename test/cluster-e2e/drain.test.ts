import { expect } from 'chai';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DrainDocument } from '../../src/agent/control/maintenance-documents';
import type { LabHostName } from '../../src/lab/schema';
import { vmmirror } from '../cli/vmmirror-process';
import { netnsAvailable, requireNetnsOrSkip } from '../helpers/netns';
import { seeded } from '../helpers/seed';
import { clusterUnderTest, type ClusterUnderTest } from './cluster';
import { expectNeverOnBoth } from './figures';
import { judgeStoppedLab, modulesOf, quiesceAndStop, setAgentSetting, waitPlacement, waitSteady } from './steps';

// Maintenance (docs/cluster.md "Maintenance") on a five-VM lab, three of them at home on hva, the
// guests writing: `vmmirror drain hva` moves each to hvb by a planned switchover, one at a time,
// and nothing comes back while hva is in maintenance; `vmmirror resume hva` lets failback bring
// them home. A second drain is cut by a SIGKILL of hva's agent after its first move: the restarted
// agent takes the drain up again (its record said it had not finished); no VM ever runs on both
// hosts, and none stays on neither longer than a move. At the end every copy is judged.

type ErrorDoc = { Error: { Code: string; Message: string } };

describe('cluster e2e: vmmirror drain / resume (maintenance), an agent restart mid-drain', function () {
  this.timeout(600_000);
  const rnd = seeded('cluster-e2e drain');
  let c: ClusterUnderTest;
  let onA: string[];
  const cli = (h: LabHostName, args: string[]) => vmmirror([...args, '--dir', c.lab.Hosts.find((x) => x.Name === h)!.ConfigDirectory, '--json']);
  const all = (h: LabHostName): Map<string, LabHostName> => new Map(c.lab.Modules.map((m) => [m.VmId, h]));
  /** The longest time any VM ran on no host after `t0` (sampler resolution). */
  const longestNowhereMs = (t0: number): number => {
    let worst = 0;
    for (const m of c.lab.Modules) {
      let since: number | null = null;
      for (const ch of c.sampler.changes(m.VmId, t0)) {
        if (ch.to.length === 0) since = ch.at;
        else if (since !== null) (worst = Math.max(worst, ch.at - since)), (since = null);
      }
      if (since !== null) worst = Math.max(worst, performance.now() - since);
    }
    return worst;
  };
  const maintenanceOn = async (h: LabHostName, of: LabHostName) => (await c.status(h)).Maintenance?.Hosts.find((x) => x.Name === of);

  before(async function () {
    if (!netnsAvailable()) return requireNetnsOrSkip(this);
    process.stderr.write(`      seed ${rnd.seed}\n`);
    c = await clusterUnderTest({ vms: 5, seed: rnd.seed });
    onA = modulesOf(c, 'hva').map((m) => m.Name).sort();
    expect(onA).to.have.length(3);
    await setAgentSetting(c, 'FailbackStableSeconds', 2);
    c.sampler.start();
    await c.startAll();
    await waitSteady(c, 'lab start', 120_000);
  });
  after(async () => c?.cleanup());

  it('--what-if: the three modules of hva planned (every check passing), the two of hvb not here; nothing moves, no flag set', async () => {
    const t = performance.now();
    // hvb judges on what hva's heartbeats last said: right after the start they may still show a VM
    // starting. A what-if changes nothing, so it is asked until hvb has heard every VM running
    // (a heartbeat or two), and at most 15 s.
    let r = await cli('hvb', ['drain', 'hva', '--what-if']);
    let doc = JSON.parse(r.stdout) as DrainDocument;
    for (const until = performance.now() + 15_000; r.exitCode === 0 && doc.Modules.some((m) => m.Outcome === 'refused') && performance.now() < until; ) {
      await sleep(500);
      r = await cli('hvb', ['drain', 'hva', '--what-if']);
      doc = JSON.parse(r.stdout) as DrainDocument;
    }
    expect(r.exitCode, r.stdout + r.stderr).to.equal(0);
    expect({ host: doc.Host, whatIf: doc.WhatIf, inMaintenance: doc.InMaintenance }).to.deep.equal({ host: 'hva', whatIf: true, inMaintenance: false });
    expect(doc.Modules.filter((m) => m.Outcome === 'planned').map((m) => m.Module), JSON.stringify(doc.Modules)).to.deep.equal(onA);
    expect(doc.Modules.filter((m) => m.Outcome === 'not-here')).to.have.length(2);
    for (const m of c.lab.Modules) expect(c.sampler.changes(m.VmId, t), m.Name).to.deep.equal([]);
    expect((await maintenanceOn('hva', 'hva'))?.InMaintenance).to.equal(false);
  });

  it('drain hva: each of its VMs moves to hvb, one at a time (downtime and final delta each); hva in maintenance on both hosts; no failback onto it', async () => {
    const t = performance.now();
    const r = await cli('hva', ['drain', 'hva']);
    expect(r.exitCode, r.stdout + r.stderr).to.equal(0);
    const doc = JSON.parse(r.stdout) as DrainDocument;
    const moved = doc.Modules.filter((m) => m.Outcome === 'moved');
    expect(moved.map((m) => [m.Module, m.To])).to.deep.equal(onA.map((n) => [n, 'hvb']));
    for (const m of moved) expect(m.DowntimeMs, m.Module).to.be.a('number').and.greaterThan(0);
    process.stderr.write(`      drain of ${moved.length} modules: ${doc.DurationMs} ms (${moved.map((m) => `${m.Module} downtime ${m.DowntimeMs} ms, ${m.FinalDeltaBytes} B, move ${m.DurationMs} ms`).join('; ')})\n`);
    await waitPlacement(c, all('hvb'), 'every VM on hvb', 10_000);
    // One at a time: each move started after the one before had its VM running on hvb.
    const arrivals = moved.map((m) => c.sampler.firstRunningAfter(c.lab.Modules.find((x) => x.Name === m.Module)!.VmId, 'hvb', t)!);
    expect([...arrivals].sort((a, b) => a - b)).to.deep.equal(arrivals);
    for (const h of ['hva', 'hvb'] as const) expect((await maintenanceOn(h, 'hva'))?.InMaintenance, `hva in maintenance as ${h} knows it`).to.equal(true);
    const t2 = performance.now();
    await sleep(6000); // three times the failback stabilisation
    for (const m of c.lab.Modules) expect(c.sampler.changes(m.VmId, t2), `${m.Name} stays on hvb`).to.deep.equal([]);
    const refused = await cli('hva', ['failback', onA[0]!]);
    expect((JSON.parse(refused.stdout) as ErrorDoc).Error.Message).to.match(/maintenance/);
  });

  it('resume hva: the flag cleared on both hosts, failback brings its three VMs home', async () => {
    const r = await cli('hvb', ['resume', 'hva']);
    expect(r.exitCode, r.stdout + r.stderr).to.equal(0);
    expect((JSON.parse(r.stdout) as DrainDocument).InMaintenance).to.equal(false);
    await waitSteady(c, 'after resume', 120_000);
    for (const h of ['hva', 'hvb'] as const) expect((await maintenanceOn(h, 'hva'))?.InMaintenance, h).to.equal(false);
  });

  it("a drain cut by SIGKILL of hva's agent after its first move goes on when the agent is back: all on hvb, never on both, never on neither for long", async () => {
    const t = performance.now();
    const first = c.lab.Modules.find((m) => m.Name === onA[0])!;
    const pending = cli('hva', ['drain', 'hva']);
    await c.sampler.waitFor('the first move', (s) => (s.running.get(first.VmId) ?? []).join() === 'hvb', 60_000);
    await c.killAgent('hva');
    const cut = await pending;
    expect(cut.exitCode, 'the CLI lost its agent').to.not.equal(0);
    await c.startAgent('hva');
    await waitPlacement(c, all('hvb'), 'every VM on hvb after the restart', 120_000);
    const deadline = Date.now() + 60_000;
    let last = (await c.status('hva')).Maintenance;
    while (last?.LastDrain?.Resumed !== true && Date.now() < deadline) (await sleep(500)), (last = (await c.status('hva')).Maintenance);
    expect({ resumed: last?.LastDrain?.Resumed, draining: last?.Hosts.find((h) => h.Name === 'hva')?.Draining, inMaintenance: last?.Hosts.find((h) => h.Name === 'hva')?.InMaintenance }).to.deep.equal({ resumed: true, draining: false, inMaintenance: true });
    const outcomes = last!.LastDrain!.Modules.filter((m) => m.Outcome !== 'not-here');
    expect(outcomes.map((m) => m.Outcome), JSON.stringify(outcomes)).to.satisfy((xs: string[]) => xs.every((x) => x === 'moved'));
    const nowhere = longestNowhereMs(t);
    process.stderr.write(`      restart mid-drain: longest time a VM ran nowhere ${Math.round(nowhere)} ms; the resumed drain moved ${outcomes.map((m) => m.Module).join(', ') || 'nothing (each had moved)'}\n`);
    expect(nowhere, 'no VM on neither host longer than a move and a restart').to.be.lessThan(30_000);
    expectNeverOnBoth(c);
    const r = await cli('hva', ['resume', 'hva']);
    expect(r.exitCode, r.stdout + r.stderr).to.equal(0);
    await waitSteady(c, 'home again', 120_000);
  });

  it("at the end, the lab stopped: every copy holds its VM's whole life and the two are equal (qemu-img compare)", async () => {
    await quiesceAndStop(c);
    await judgeStoppedLab(c);
    expectNeverOnBoth(c);
  });
});
