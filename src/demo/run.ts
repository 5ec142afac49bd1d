import { randomInt } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../errors';
import { labPaths } from '../lab/layout';
import type { LabHostName } from '../lab/schema';
import { demoCleanup } from './cleanup';
import { judgeCopies, quiesceAndSync } from './finish';
import { Poller } from './poller';
import { moduleOn } from './watch';
import type { DemoReport, DemoVm } from './schema';
import { checkTools, prepareLab, type DemoSettings } from './setup';
import { DemoView } from './view';

// `vmmirror demo`: the whole story on one machine, in about a minute (docs/demo.md). A lab in a
// temporary folder; balance; start; first replication; SIGKILL one host; its VMs start on the
// survivor; the host returns: resync, failback; a planned failover; every copy judged equal; all
// removed, also on Ctrl-C. Every figure comes from the agents (status, their logged events) or
// from the lab's verifier, never from the demo's own idea of what should have happened.

export interface DemoOptions {
  vms?: number;
  keep?: boolean;
  seed?: number;
  /** Called on SIGINT/SIGTERM after the cleanup, before the exit (the CLI prints its --json error there). */
  onSignal?: (signal: NodeJS.Signals) => void;
}

const other = (h: LabHostName): LabHostName => (h === 'hva' ? 'hvb' : 'hva');

export async function runDemo(o: DemoOptions): Promise<DemoReport> {
  const vms = o.vms ?? 4;
  if (!Number.isInteger(vms) || vms < 2 || vms > 16) throw new UsageError(`--vms must be a whole number from 2 to 16, got ${String(o.vms)}`);
  checkTools();
  const seed = o.seed ?? randomInt(0, 2 ** 32 - 1);
  const settings: DemoSettings = { vms, diskMiB: 8, heartbeatMs: 1000, peerTimeoutMs: 5000, intervalSeconds: 1, failbackStableSeconds: 2, writesPerSecond: 20, seed };
  const startedAt = new Date();
  const root = await mkdtemp(join(tmpdir(), 'vmmirror-demo-'));
  const labDir = join(root, 'lab');
  const view = new DemoView(process.stderr, () => names);
  let names: string[] = [];
  const cleanup = demoCleanup({ root, labDir, keep: o.keep === true, onSignal: o.onSignal ?? (() => undefined), say: (l) => view.note(l) });
  view.step(`vmmirror demo in ${root} (seed ${seed}; replay with --seed ${seed})`);
  try {
    view.step(`create a lab: 2 simulated hosts, a witness, ${vms} VMs (${settings.diskMiB} MiB disks), balance the default primaries`);
    const { lab, balance, defaultPrimary } = await cleanup.act(() => prepareLab(labDir, settings));
    names = lab.Modules.map((m) => m.Name);
    const home = (m: string): LabHostName => defaultPrimary.get(m)!;
    view.note(`balance plan ${balance.PlanId} (${balance.Method}): ${balance.Moves.length === 0 ? 'already balanced' : balance.Moves.map((m) => `${m.Module} ${m.From} -> ${m.To}`).join(', ')}; loads ${balance.Hosts.map((h) => `${h.Name} ${h.LoadBefore} -> ${h.LoadAfter}`).join(', ')}`);
    const poller = new Poller(lab, labPaths(labDir).logFile, view, () => cleanup.signalled);

    view.step('start the witness, and per host its guard and agent');
    const { crashLab, startLab, stopLab } = require('../lab/lifecycle') as typeof import('../lab/lifecycle');
    const { verifyLab } = require('../lab/verify') as typeof import('../lab/verify');
    await cleanup.act(() => startLab(labDir));
    view.step('wait for every VM to run on its default primary and its first replication');
    // A replica taken after the guest started writing, so the kill has something to lose and to keep.
    const replicatedSinceBoot = (m: string): boolean => {
      const booted = poller.find(0, (e) => e.host === home(m) && e.module === m && e.event === 'vm-started')?.at;
      const taken = moduleOn(poller.status[home(m)], m)?.ReplicaTakenAt;
      return booted !== undefined && taken !== null && taken !== undefined && Date.parse(taken) > booted + 500;
    };
    await poller.until('the first replication of every VM', 120_000, () => names.every((m) => poller.inSyncOn(m, home(m)) && replicatedSinceBoot(m)));

    const victim: LabHostName = names.filter((m) => home(m) === 'hvb').length > names.filter((m) => home(m) === 'hva').length ? 'hvb' : 'hva';
    const survivor = other(victim);
    const victims = names.filter((m) => home(m) === victim);
    view.step(`kill ${victim} (SIGKILL: its agent, its guard and its VMs, as a power loss); ${survivor} must start ${victims.join(', ')}`);
    const killedAt = Date.now();
    await cleanup.act(() => crashLab(labDir, victim));
    await poller.until(`the start of ${victims.join(', ')} on ${survivor}`, settings.peerTimeoutMs * 4 + 60_000, () => victims.every((m) => poller.runsOn(m, survivor, 'ALONE')));
    const startedOnSurvivor = new Map(victims.map((m) => [m, (poller.find(killedAt, (e) => e.host === survivor && e.module === m && e.event === 'vm-started')?.at ?? Date.now()) - killedAt]));
    const afterCrash = await verifyLab(labDir);

    view.step(`bring ${victim} back: it must resynchronise its copies (only what differs), then take its VMs back`);
    const returnedAt = Date.now();
    await cleanup.act(() => startLab(labDir, victim));
    await poller.until(`the resync and failback of ${victims.join(', ')} to ${victim}`, 120_000, () => names.every((m) => poller.inSyncOn(m, home(m))) && victims.every((m) => poller.find(returnedAt, (e) => e.host === victim && e.module === m && e.event === 'failback-done') !== undefined));
    const resyncOf = (m: string) => poller.find(returnedAt, (e) => e.host === victim && e.module === m && e.event === 'resync-done')?.fields;
    const failbackOf = (m: string) => poller.find(returnedAt, (e) => e.host === victim && e.module === m && e.event === 'failback-done')?.fields;

    const moved = names.find((m) => home(m) === survivor) ?? names[0]!;
    const movedFrom = home(moved);
    const movedTo = other(movedFrom);
    view.step(`planned failover of ${moved}: ${movedFrom} -> ${movedTo} (vmmirror failover ${moved} --to ${movedTo}), zero writes lost`);
    const beforeMove = await verifyLab(labDir);
    const { callAgent } = require('../agent/control/client') as typeof import('../agent/control/client');
    const { controlEndpoint } = require('../agent/control/endpoint') as typeof import('../agent/control/endpoint');
    const ownerDir = lab.Hosts.find((h) => h.Name === movedFrom)!.ConfigDirectory;
    const ownerEndpoint = await controlEndpoint(ownerDir);
    const sw = (await cleanup.act(() => callAgent({ ...ownerEndpoint, timeoutMs: 120_000 }, 'POST', `/v1/modules/${encodeURIComponent(moved)}/failover?whatIf=false&to=${movedTo}`))) as import('../agent/control/documents').SwitchoverDocument;
    const movedAt = Date.now();
    const afterMove = await verifyLab(labDir);
    const lostInMove = (afterMove.Vms.find((v) => v.Module === moved)?.WritesLost ?? 0) - (beforeMove.Vms.find((v) => v.Module === moved)?.WritesLost ?? 0);
    view.note(`${moved} moved under epoch ${sw.Result?.Epoch ?? '?'}: downtime ${sw.Result?.DowntimeMs ?? '?'} ms, final delta ${sw.Result?.FinalDeltaBytes ?? '?'} B, ${lostInMove} writes lost; Failback auto brings it home after ${settings.failbackStableSeconds} s in sync`);
    await poller.until(`${moved} back on ${movedFrom}`, 120_000, () => names.every((m) => poller.inSyncOn(m, home(m))));
    const backHome = poller.find(movedAt - 1000, (e) => e.host === movedFrom && e.module === moved && e.event === 'failback-done')?.fields;

    view.step('quiesce the guests, one last cycle each, stop the lab, judge every copy');
    await cleanup.act(() => quiesceAndSync(lab, poller, home, view));
    await cleanup.act(() => stopLab(labDir));
    const final = await verifyLab(labDir, { stopped: true });
    const judged = await judgeCopies(lab, final);
    view.finish();

    const vmsOut: DemoVm[] = lab.Modules.map((m) => {
      const onVictim = victims.includes(m.Name);
      const crash = afterCrash.Vms.find((v) => v.Module === m.Name);
      const rs = resyncOf(m.Name);
      const fb = failbackOf(m.Name);
      return {
        Module: m.Name, VmName: m.VmName, DefaultPrimary: home(m.Name), DiskBytes: m.DiskBytes, OnKilledHost: onVictim,
        KillToRunningMs: onVictim ? Math.round(startedOnSurvivor.get(m.Name)!) : null,
        RanOnSurvivor: onVictim ? (crash?.RunningOn ?? []).join() === survivor : false,
        WritesLost: onVictim ? (crash?.WritesLost ?? null) : null,
        WritesLostSeconds: onVictim ? (crash?.WritesLostSeconds ?? null) : null,
        ResyncBytes: typeof rs?.bytes === 'number' ? rs.bytes : null,
        ResyncDiskBytes: typeof rs?.diskBytes === 'number' ? rs.diskBytes : null,
        CameBack: onVictim ? fb !== undefined : true,
        FailbackDowntimeMs: onVictim && typeof fb?.downtimeMs === 'number' ? Math.round(fb.downtimeMs) : null,
        PlannedFailover: m.Name === moved && sw.Result !== null ? { From: movedFrom, To: movedTo, DowntimeMs: sw.Result.DowntimeMs, FinalDeltaBytes: sw.Result.FinalDeltaBytes, WritesLost: lostInMove, BackHomeDowntimeMs: typeof backHome?.downtimeMs === 'number' ? Math.round(backHome.downtimeMs) : null } : null,
        Verification: judged.byModule.get(m.Name)!,
      };
    });
    const problems = [
      ...final.Problems,
      ...vmsOut.filter((v) => v.OnKilledHost && !v.RanOnSurvivor).map((v) => `${v.Module} did not run on ${survivor} after ${victim} was killed`),
      ...vmsOut.filter((v) => !v.CameBack).map((v) => `${v.Module} did not come back to ${v.DefaultPrimary}`),
      ...vmsOut.filter((v) => !v.Verification.Equal).map((v) => `${v.Module}: the copies are not equal (pattern ${v.Verification.PatternEqual ? 'equal' : 'differs'}, qemu-img compare ${v.Verification.QemuImgCompare})`),
      ...(lostInMove !== 0 ? [`the planned failover of ${moved} lost ${lostInMove} writes`] : []),
    ];
    return {
      Directory: labDir, Kept: o.keep === true, Seed: seed, StartedAt: startedAt.toISOString(), DurationMs: Date.now() - startedAt.getTime(),
      Settings: { Vms: vms, DiskBytes: settings.diskMiB * 1024 * 1024, HeartbeatIntervalMs: settings.heartbeatMs, PeerLossTimeoutMs: settings.peerTimeoutMs, ReplicationIntervalSeconds: settings.intervalSeconds, FailbackStableSeconds: settings.failbackStableSeconds, WritesPerSecond: settings.writesPerSecond },
      Balance: balance, KilledHost: victim, Survivor: survivor, Vms: vmsOut, JudgedBy: judged.judgedBy, Ok: problems.length === 0, Problems: problems,
    };
  } finally {
    view.finish();
    cleanup.dispose();
    await cleanup.run();
    view.note(o.keep === true ? `lab stopped; kept in ${labDir}` : `lab removed (${root})`);
  }
}
