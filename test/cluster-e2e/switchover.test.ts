import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SwitchoverDocument } from '../../src/agent/control/documents';
import { createSimulatedHypervisor } from '../../src/hypervisor/simulated';
import type { LabHostName, LabModule } from '../../src/lab/schema';
import { vmmirror } from '../cli/vmmirror-process';
import { netnsAvailable, requireNetnsOrSkip } from '../helpers/netns';
import { seeded } from '../helpers/seed';
import { clusterUnderTest, type ClusterUnderTest } from './cluster';
import { expectNeverOnBoth, report } from './figures';
import { downtimeOfMove, judgeStoppedLab, newHandovers, other, quiesceAndStop, setAgentSetting, waitPlacement, waitReplicated, waitSteady } from './steps';

// The planned switchover on command (issue 9; issue 8's manual failback), through the CLI alone on
// a lab made with `--failback manual`: `vmmirror failover` moves the VM from its default primary
// while its guest writes, and the pattern verifier proves no write was lost; the VM stays there
// past the failback stabilisation (manual); refusals leave it where it was; `vmmirror failback`
// brings it home. Downtime is measured idle and writing. At the end every copy is judged.

type ErrorDoc = { Error: { Code: string; Message: string; Details?: { Checks?: Array<{ Name: string; Passed: boolean }> } } };

describe('cluster e2e: vmmirror failover / failback on command (Failback: manual), a guest writing, zero loss', function () {
  this.timeout(300_000);
  const rnd = seeded('cluster-e2e switchover');
  let c: ClusterUnderTest;
  let m: LabModule;
  const moves: Array<{ what: string; writing: boolean; lostWrites: number; agent: SwitchoverDocument['Result']; sampledDowntimeMs: number | null }> = [];
  const dirOf = (h: LabHostName): string => c.lab.Hosts.find((x) => x.Name === h)!.ConfigDirectory;
  const cli = (h: LabHostName, args: string[]) => vmmirror([...args, '--dir', dirOf(h), '--json']);

  /**
   * Waits until `on` is PRIM and the other host SECOND for the module, and each knows it of the
   * other (the peer's last heartbeat): the checks of the next move are judged on what the target
   * heard, so a test that asks before the heartbeat arrived would see the state before.
   */
  const waitRoles = async (on: LabHostName, what: string): Promise<void> => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const [a, b] = await Promise.all([c.status(on).then((d) => d.Modules[0]!).catch(() => null), c.status(other(on)).then((d) => d.Modules[0]!).catch(() => null)]);
      const seen = { [on]: [a?.State, a?.PeerState, a?.VmActivity], [other(on)]: [b?.State, b?.PeerState, b?.PeerVmActivity] };
      if (JSON.stringify(seen) === JSON.stringify({ [on]: ['PRIM', 'SECOND', 'running'], [other(on)]: ['SECOND', 'PRIM', 'running'] })) return;
      if (Date.now() > deadline) throw new Error(`${what}: not PRIM on ${on} and SECOND on ${other(on)}, each knowing the other: ${JSON.stringify(seen)}`);
      await sleep(200);
    }
  };

  /** One move on command from `runOn`, judged by the sampler and the pattern verifier; returns the document. */
  const move = async (what: string, runOn: LabHostName, args: string[], from: LabHostName, to: LabHostName, writing: boolean): Promise<SwitchoverDocument> => {
    const skip = writing ? (await newHandovers(c, m.VmId, 0)).length : 0;
    const t = performance.now();
    const r = await cli(runOn, args);
    expect(r.exitCode, `${what}: ${r.stdout}${r.stderr}`).to.equal(0);
    const doc = JSON.parse(r.stdout) as SwitchoverDocument;
    expect({ from: doc.From, to: doc.To, whatIf: doc.WhatIf, failed: doc.Checks.filter((x) => !x.Passed) }).to.deep.equal({ from, to, whatIf: false, failed: [] });
    expect(doc.Result, what).to.not.equal(null);
    expect(doc.Result!.Epoch, `${what}: a new epoch`).to.equal(doc.Epoch + 1);
    // The command answers once the VM runs on the new host (the sampler sees it within a sample or two).
    await waitPlacement(c, new Map([[m.VmId, to]]), `${what}: on ${to}`, 5000);
    process.stderr.write(`      ${what}: ${JSON.stringify(doc.Result)} (command ${Math.round(performance.now() - t)} ms)\n`);
    // An idle guest starts no new boot in the write log (a boot is logged with its first write):
    // its move has nothing to lose, and the end judge compares the copies.
    let lostWrites = 0;
    if (writing) {
      const hs = await newHandovers(c, m.VmId, skip);
      expect(hs.map((h) => `${h.from}>${h.to}`), what).to.deep.equal([`${from}>${to}`]);
      expect(hs[0]!.lostWrites, `${what}: every write made before the stop is on ${to}`).to.equal(0);
      lostWrites = hs[0]!.lostWrites;
    }
    await waitRoles(to, what);
    moves.push({ what, writing, lostWrites, agent: doc.Result, sampledDowntimeMs: downtimeOfMove(c, m.VmId, from, to, t) });
    return doc;
  };

  const refused = async (what: string, runOn: LabHostName, args: string[]): Promise<ErrorDoc['Error']> => {
    const r = await cli(runOn, args);
    expect(r.exitCode, `${what}: ${r.stdout}`).to.not.equal(0);
    const e = (JSON.parse(r.stdout) as ErrorDoc).Error;
    expect(e.Code, `${what}: ${e.Message}`).to.equal('SWITCHOVER_REFUSED');
    return e;
  };

  before(async function () {
    if (!netnsAvailable()) return requireNetnsOrSkip(this);
    process.stderr.write(`      seed ${rnd.seed}\n`);
    c = await clusterUnderTest({ vms: 1, seed: rnd.seed, failback: 'manual' });
    m = c.lab.Modules[0]!;
    expect(m.DefaultPrimary).to.equal('hva');
    // An automatic failback would come 2 s after the return to sync: the manual module must not.
    await setAgentSetting(c, 'FailbackStableSeconds', 2);
    c.sampler.start();
    await c.startAll();
    await waitSteady(c, 'lab start', 90_000);
    await waitRoles('hva', 'lab start');
  });
  after(async () => c?.cleanup());

  it('--what-if prints the plan (from, to, each check passing) and moves nothing', async () => {
    const epoch = (await c.status('hva')).Modules[0]!.Epoch;
    const t = performance.now();
    const r = await cli('hvb', ['failover', m.VmName, '--what-if']);
    expect(r.exitCode, r.stdout + r.stderr).to.equal(0);
    const doc = JSON.parse(r.stdout) as SwitchoverDocument;
    expect({ module: doc.Module, from: doc.From, to: doc.To, whatIf: doc.WhatIf, result: doc.Result }).to.deep.equal({ module: m.Name, from: 'hva', to: 'hvb', whatIf: true, result: null });
    expect(doc.Checks.map((x) => [x.Name, x.Passed])).to.deep.equal([['peer-heard', true], ['quorum', true], ['runs-on-peer', true], ['replica-here', true], ['in-sync', true], ['readiness', true]]);
    expect(c.sampler.changes(m.VmId, t)).to.deep.equal([]);
    expect((await c.status('hva')).Modules[0]!.Epoch).to.equal(epoch);
  });

  it("refused with SWITCHOVER_REFUSED when hvb's readiness check fails (its switch is gone), asked on the owner; nothing moved", async () => {
    const t = performance.now();
    const hostFile = join(c.lab.Hosts.find((h) => h.Name === 'hvb')!.SimDirectory, 'host.json');
    const original = await readFile(hostFile, 'utf8');
    const host = JSON.parse(original) as { switchNames: string[] };
    await writeFile(hostFile, JSON.stringify({ ...host, switchNames: host.switchNames.filter((x) => x !== 'LAN') }));
    try {
      const e = await refused('failover with no LAN switch on hvb', 'hva', ['failover', m.Name]);
      const readiness = e.Details?.Checks?.find((x) => x.Name === 'readiness');
      expect(readiness?.Passed, e.Message).to.equal(false);
      expect(e.Message).to.match(/MissingSwitch/);
    } finally {
      await writeFile(hostFile, original);
    }
    expect(c.sampler.changes(m.VmId, t), 'the VM never moved').to.deep.equal([]);
  });

  it('failover hva -> hvb run on the owner (it asks hvb to pull), the guest writing: zero writes lost; figures in the document and in status', async () => {
    await waitReplicated(c, m.VmId, 'hva');
    const doc = await move('failover hva>hvb', 'hva', ['failover', m.Name, '--to', 'hvb'], 'hva', 'hvb', true);
    expect(doc.Result!.FinalDeltaBytes, 'the guest wrote since the last cycle: the final delta carries it').to.be.greaterThan(0);
    expect(doc.Result!.ToGeneration).to.be.greaterThan(doc.Result!.FromGeneration ?? -1);
    for (const h of ['hva', 'hvb'] as const) {
      const last = (await c.status(h)).Modules[0]!.LastSwitchover;
      expect({ from: last?.From, to: last?.To, epoch: last?.Epoch }, `status on ${h}`).to.deep.equal({ from: 'hva', to: 'hvb', epoch: doc.Result!.Epoch });
    }
  });

  it('Failback: manual: the VM stays on hvb past the failback stabilisation; meanwhile --to the host it runs on is refused', async () => {
    const t = performance.now();
    const [wrongTo] = await Promise.all([refused('failover --to hvb while it runs on hvb', 'hva', ['failover', m.Name, '--to', 'hvb']), sleep(6000)]);
    expect(wrongTo.Message).to.match(/can only move to hva/);
    expect(c.sampler.changes(m.VmId, t), 'no automatic failback').to.deep.equal([]);
    expect(c.sampler.runningNow(m.VmId)).to.deep.equal(['hvb']);
  });

  it('refused with SWITCHOVER_REFUSED, nothing moved: the peer cut off (asked on either side)', async () => {
    const t = performance.now();
    c.cut('hva', 'hvb');
    try {
      const deadline = Date.now() + 30_000;
      while ((await c.status('hva')).Hosts.find((h) => !h.Self)!.Reachable) {
        if (Date.now() > deadline) throw new Error('hva still hears hvb 30 s after the cut');
        await sleep(250);
      }
      const [home, away] = await Promise.all([refused('failback from hva with hvb cut off', 'hva', ['failback', m.Name]), refused('failover from hvb (the owner) with hva cut off', 'hvb', ['failover', m.Name])]);
      expect(home.Details?.Checks?.find((x) => x.Name === 'peer-heard')?.Passed, home.Message).to.equal(false);
      expect(home.Details?.Checks?.find((x) => x.Name === 'in-sync')?.Passed, home.Message).to.equal(false);
      expect(away.Details?.Checks?.map((x) => x.Name), away.Message).to.deep.equal(['peer-heard']);
      expect(c.sampler.changes(m.VmId, t), 'the VM never moved').to.deep.equal([]);
    } finally {
      c.heal('hva', 'hvb');
    }
    // hvb bumped the epoch while alone: hva resyncs, then holds the replica again.
    await waitRoles('hvb', 'after the cut healed');
    expect(c.sampler.runningNow(m.VmId)).to.deep.equal(['hvb']);
  });

  it('vmmirror failback brings it home (writing), then a move each way idle: zero loss; downtime idle vs writing', async () => {
    await waitReplicated(c, m.VmId, 'hvb');
    await move('failback hvb>hva (writing)', 'hva', ['failback', m.Name], 'hvb', 'hva', true);
    const nothingToDo = await refused('failback of a module at home', 'hva', ['failback', m.Name]);
    expect(nothingToDo.Message).to.match(/already runs on its default primary/);
    // Idle: the guest stops writing (on both hosts' records, so it stays idle wherever it runs).
    for (const h of c.lab.Hosts) await createSimulatedHypervisor(h.SimDirectory).setWriter(m.VmId, { ratePerSecond: 0 });
    await waitReplicated(c, m.VmId, 'hva');
    await move('failover hva>hvb (idle)', 'hvb', ['failover', m.VmName], 'hva', 'hvb', false);
    await move('failback hvb>hva (idle)', 'hvb', ['failback', m.Name], 'hvb', 'hva', false);
    for (const h of c.lab.Hosts) await createSimulatedHypervisor(h.SimDirectory).setWriter(m.VmId, { ratePerSecond: m.Writer.RatePerSecond });
    expectNeverOnBoth(c);
    await report(c, 'switchover-on-command', {
      writesLost: moves.map((x) => x.lostWrites),
      moves: moves.map((x) => ({ what: x.what, writing: x.writing, downtimeMs: x.agent?.DowntimeMs, stopMs: x.agent?.StopMs, finalSyncMs: x.agent?.FinalSyncMs, startMs: x.agent?.StartMs, finalDeltaBytes: x.agent?.FinalDeltaBytes, sampledDowntimeMs: x.sampledDowntimeMs })),
    });
  });

  it('at the end, the lab stopped: both copies hold the VM\'s whole life and are equal (qemu-img compare)', async () => {
    await waitSteady(c, 'before the stop', 60_000);
    await quiesceAndStop(c);
    await judgeStoppedLab(c);
    expectNeverOnBoth(c);
  });
});
