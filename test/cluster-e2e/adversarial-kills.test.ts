import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { leasePath } from '../../src/guard/lease-file';
import { simulatedVmPids } from '../../src/hypervisor/simulated';
import { seeded } from '../helpers/seed';
import { steadyAdversaryLab, expectSafe, waitRunning, waitSteady, type AdversaryLab } from './adversary-lab';

// Adversarial review, item 1 and 2 (issue 8): SIGKILL of an agent at the awkward instants, with the
// lab run from the CLI, the VMs sampled every 100 ms, the agents' epochs watched, and `lab verify`
// judging every copy after each case. vm1's default primary is hva, vm2's is hvb.
//   2.  an agent killed and started again at once while its VMs run
//   1a. the survivor's agent killed right after the witness granted its takeover claim
//   1b. the owner's agent killed in the middle of the returning host's resync
//   1c. the owner's agent killed in the middle of a failback handover (its VM stopped for the final cycle)
//   1d. the owner's agent killed as soon as the witness logged the handover's grant (whether the
//       owner had recorded it yet is reported: the window is a few ms wide)

/** Resolves when `vmId` has no process on the host any more (polled every 10 ms). */
async function waitGone(simDir: string, vmId: string, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (!(await simulatedVmPids(simDir)).some((p) => p.vmId === vmId)) return performance.now();
    if (performance.now() > deadline) throw new Error(`${vmId} still runs after ${timeoutMs} ms`);
    await sleep(10);
  }
}

/** Resolves at the next rewrite of the host's guard lease (the agent renewed), polled every 10 ms. */
async function nextLeaseWrite(dataDir: string, timeoutMs: number): Promise<number> {
  const read = async () => readFile(leasePath(dataDir), 'utf8').then((t) => (JSON.parse(t) as { WrittenAtMono: number }).WrittenAtMono, () => null);
  const first = await read();
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const now = await read();
    if (now !== null && now !== first) return performance.now();
    if (performance.now() > deadline) throw new Error(`the guard lease in ${dataDir} was not renewed within ${timeoutMs} ms`);
    await sleep(10);
  }
}

describe('adversarial: SIGKILL of an agent at awkward instants', function () {
  this.timeout(400_000);
  const rnd = seeded('adversarial kills');
  let a: AdversaryLab;
  const figures: Record<string, unknown> = {};
  before(async () => {
    process.stderr.write(`      seed ${rnd.seed}\n`);
    a = await steadyAdversaryLab(rnd.seed);
  });
  after(async () => {
    process.stderr.write(`      FIGURES adversarial-kills seed ${rnd.seed}: ${JSON.stringify(figures)}\n`);
    await a?.cleanup();
  });

  it("2. hva's agent SIGKILLed and started again at once while its VM runs: the VM is not stopped, nothing runs twice", async () => {
    const vm1 = a.vmOf('vm1');
    // The awkward instant: just before the next renewal (renewals come every second), when the
    // lease the restarted agent inherits from its guard is at its oldest.
    const renewedAt = await nextLeaseWrite(a.dataDir('hva'), 10_000);
    await sleep(Math.max(0, renewedAt + rnd.int(700, 950) - performance.now()));
    const killedAt = await a.killNow('hva-agent');
    const killedWall = Date.now();
    await a.start('hva');
    const readyMs = performance.now() - killedAt;
    // Where the restart's time goes: the new agent's first log line (its process is up) and its "agent started".
    const lines = (await a.logLines('hva-agent')).filter((l) => (l.time as number) >= killedWall);
    const firstLogMs = (lines[0]?.time as number) - killedWall;
    const startedLogMs = (lines.find((l) => l.msg === 'agent started')?.time as number) - killedWall;
    await sleep(6000);
    const moves = a.sampler.changes(vm1, killedAt).map((c) => `${c.from.join('+') || 'none'}>${c.to.join('+') || 'none'} at +${(c.at - killedAt).toFixed(0)} ms`);
    const guardFenced = (await a.logLines('hva-guard', 'guard-fence')).length;
    figures.restart = { agentKillToReadyMs: Math.round(readyMs), killToFirstLogMs: firstLogMs, killToAgentStartedMs: startedLogMs, vm1Moves: moves, guardFences: guardFenced };
    await expectSafe(a, 'agent restart');
    expect(moves, `vm1 was stopped although its agent was back ${readyMs.toFixed(0)} ms after the kill (the guard fenced ${guardFenced} time(s))`).to.deep.equal([]);
  });

  it("1a. hva dies; hvb's agent is SIGKILLed right after the witness grants its takeover claim, then restarted: vm1 runs on hvb once, under a newer epoch", async () => {
    await waitSteady(a, 'before 1a', 120_000);
    const epochBefore = a.epochs.highest.get('vm1') ?? 0;
    const since = Date.now();
    await a.crash('hva');
    const crashedAt = performance.now();
    const grant = await a.waitLog('witness', 'witness-claim', (l) => l.host === 'hvb' && l.kind === 'takeover' && l.granted === true && l.module === 'vm1', 30_000, since);
    await sleep(rnd.int(0, 150));
    const killedAt = await a.killNow('hvb-agent');
    const grantedEpoch = grant.epoch as number;
    await a.start('hvb');
    await waitRunning(a, { vm1: 'hvb', vm2: 'hvb' }, 'both VMs on hvb after its agent restarted', 60_000);
    figures.claimKill = { crashToRunningMs: Math.round(a.sampler.firstRunningAfter(a.vmOf('vm1'), 'hvb', crashedAt)! - crashedAt), killToRunningMs: Math.round(a.sampler.firstRunningAfter(a.vmOf('vm1'), 'hvb', killedAt)! - killedAt), grantedEpoch };
    await sleep(1000);
    await a.epochs.sample('hvb');
    expect(a.epochs.epochOf('hvb', 'vm1'), 'vm1 runs on hvb under an epoch at least the one granted').to.be.at.least(grantedEpoch);
    expect(grantedEpoch).to.be.greaterThan(epochBefore);
    await expectSafe(a, 'kill after a granted claim');
  });

  it("1b. hva returns; hvb's agent (the owner) is SIGKILLed in the middle of hva's resync and restarted: resync, failback, every copy verifies", async () => {
    const since = Date.now();
    await a.start('hva');
    const started = await a.waitLog('hva-agent', 'resync-start', () => true, 60_000, since);
    await sleep(rnd.int(0, 100));
    await a.killNow('hvb-agent');
    const doneBefore = (await a.logLines('hva-agent', 'resync-done')).filter((l) => (l.time as number) >= (started.time as number)).map((l) => l.module);
    await a.start('hvb');
    await waitSteady(a, 'after the resync kill', 120_000);
    figures.resyncKill = { module: started.module, resyncsDoneBeforeKill: doneBefore };
    await sleep(2000);
    await expectSafe(a, 'kill during resync');
  });

  it("1c. hvb's agent is SIGKILLed while vm1 is stopped for the final cycle of its failback, and restarted: vm1 runs once, copies verify", async () => {
    await a.crash('hva');
    await waitRunning(a, { vm1: 'hvb', vm2: 'hvb' }, 'both VMs on hvb', 60_000);
    const since = Date.now();
    await a.start('hva');
    await a.waitLog('hva-agent', 'resync-done', (l) => l.module === 'vm1', 60_000, since);
    const stoppedAt = await waitGone(a.simDir('hvb'), a.vmOf('vm1'), 60_000);
    await sleep(rnd.int(0, 100));
    const killedAt = await a.killNow('hvb-agent');
    const handedBeforeKill = (await a.logLines('hvb-agent', 'handed-over')).some((l) => l.module === 'vm1' && (l.time as number) >= Date.now() - (performance.now() - stoppedAt));
    await a.start('hvb');
    await waitSteady(a, 'after the handover kill', 120_000);
    const down = (a.sampler.firstRunningAfter(a.vmOf('vm1'), 'hva', killedAt) ?? NaN) - stoppedAt;
    figures.handoverKill = { killAfterStopMs: Math.round(killedAt - stoppedAt), handedOverBeforeKill: handedBeforeKill, vm1DowntimeMs: Math.round(down) };
    await sleep(2000);
    await expectSafe(a, 'kill during the failback handover');
  });
  it("1d. hvb's agent is SIGKILLed as soon as the witness's log shows the failback's handover granted (epoch N+1 for hva), and restarted: vm1 ends on hva, once", async () => {
    await a.crash('hva');
    await waitRunning(a, { vm1: 'hvb', vm2: 'hvb' }, 'both VMs on hvb', 60_000);
    const since = Date.now();
    await a.start('hva');
    const grant = await a.waitLog('witness', 'witness-claim', (l) => l.host === 'hvb' && l.kind === 'handover' && l.granted === true && l.module === 'vm1', 90_000, since);
    const killedAt = await a.killNow('hvb-agent');
    const recorded = (await a.logLines('hvb-agent', 'handed-over')).some((l) => l.module === 'vm1' && (l.time as number) >= (grant.time as number));
    await a.start('hvb');
    await waitSteady(a, 'after the kill at the handover grant', 120_000);
    figures.handoverGrantKill = { grantedEpoch: grant.epoch, hvbRecordedBeforeKill: recorded, vm1BackOnHvaMs: Math.round((a.sampler.firstRunningAfter(a.vmOf('vm1'), 'hva', killedAt) ?? NaN) - killedAt) };
    await sleep(2000);
    await expectSafe(a, 'kill at the handover grant');
  });
});
