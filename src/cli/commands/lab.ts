import { ExitCodes, UsageError } from '../../errors';
import { LabActionOutput, LabFile, LabVerifyOutput } from '../../lab/schema';
import type { CommandOutcome } from '../command';
import { emit } from '../output';

// `vmmirror lab ...` (definitions/lab.ts declares them; docs/lab.md). Each prints one document.

export interface LabCreateCliOptions {
  vms?: string;
  addresses?: string;
  heartbeatMs?: string;
  peerTimeoutMs?: string;
  interval?: string;
  diskMib?: string;
  writesPerSecond?: string;
  seed?: string;
  register?: string;
  failback?: string;
}

function wholeNumber(option: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v.trim())) throw new UsageError(`${option} must be a whole number, got ${JSON.stringify(v)}`);
  return Number(v);
}

function number(option: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${option} must be a number, got ${JSON.stringify(v)}`);
  return n;
}

export async function runLabCreate(dir: string, opts: LabCreateCliOptions): Promise<CommandOutcome> {
  const { createLab } = require('../../lab/create') as typeof import('../../lab/create');
  const seed = wholeNumber('--seed', opts.seed);
  const lab = await createLab({
    dir,
    ...(opts.addresses !== undefined ? { addresses: opts.addresses } : {}),
    vms: wholeNumber('--vms', opts.vms),
    heartbeatMs: wholeNumber('--heartbeat-ms', opts.heartbeatMs),
    peerTimeoutMs: wholeNumber('--peer-timeout-ms', opts.peerTimeoutMs),
    intervalSeconds: wholeNumber('--interval', opts.interval),
    diskMiB: wholeNumber('--disk-mib', opts.diskMib),
    writesPerSecond: number('--writes-per-second', opts.writesPerSecond),
    seed,
    ...(opts.register !== undefined ? { register: opts.register as 'both' | 'primary' } : {}),
    ...(opts.failback !== undefined ? { failback: opts.failback as 'auto' | 'manual' } : {}),
  });
  // The seed on stderr too: a failing run can be replayed with --seed (the writers' offsets follow it).
  process.stderr.write(`vmmirror lab: seed ${lab.Seed}${seed === undefined ? ' (random; replay with --seed)' : ''}\n`);
  const json = emit(LabFile, lab);
  const lines = [
    `lab created in ${lab.Directory} (seed ${lab.Seed})`,
    ...lab.Hosts.map((h) => `  ${h.Name}: ${h.Address}:${h.Port}, config ${h.ConfigDirectory}`),
    `  witness: ${lab.Witness.Address}:${lab.Witness.Port}, ${lab.Witness.Directory}`,
    ...lab.Modules.map((m) => `  ${m.Name} (${m.VmId}): default primary ${m.DefaultPrimary}`),
    `next: vmmirror lab start ${dir}`,
  ];
  return { json, text: lines.join('\n') };
}

function actionText(verb: string, out: LabActionOutput): string {
  const lines = out.Processes.map((p) => `  ${p.Name}: ${p.Action}${p.Pid !== null ? ` (pid ${p.Pid})` : ''}`);
  for (const v of out.Vms) lines.push(`  VM ${v.VmId} on ${v.Host}: ${v.Action}`);
  return [`lab ${verb}: ${out.Directory}`, ...lines].join('\n');
}

export async function runLabStart(dir: string, target: string | undefined): Promise<CommandOutcome> {
  const { startLab } = require('../../lab/lifecycle') as typeof import('../../lab/lifecycle');
  const json = emit(LabActionOutput, await startLab(dir, target));
  return { json, text: actionText('start', json) };
}

export async function runLabStop(dir: string, target: string | undefined): Promise<CommandOutcome> {
  const { stopLab } = require('../../lab/lifecycle') as typeof import('../../lab/lifecycle');
  const json = emit(LabActionOutput, await stopLab(dir, target));
  return { json, text: actionText('stop', json) };
}

export async function runLabCrash(dir: string, target: string, opts: { agentOnly?: boolean }): Promise<CommandOutcome> {
  const { crashLab } = require('../../lab/lifecycle') as typeof import('../../lab/lifecycle');
  const json = emit(LabActionOutput, await crashLab(dir, target, { agentOnly: opts.agentOnly === true }));
  return { json, text: actionText('crash', json) };
}

export async function runLabVerify(dir: string, opts: { stopped?: boolean }): Promise<CommandOutcome> {
  const { verifyLab } = require('../../lab/verify') as typeof import('../../lab/verify');
  const json = emit(LabVerifyOutput, await verifyLab(dir, { stopped: opts.stopped === true }));
  const lines = [`lab verify: ${json.Directory}: ${json.Ok ? 'ok' : `${json.Problems.length} problem(s)`}`];
  for (const v of json.Vms) {
    lines.push(`  ${v.Module}: runs on ${v.RunningOn.length === 0 ? 'no host' : v.RunningOn.join(' AND ')}; ${v.WritesMade} writes made, ${v.WritesLost} lost`);
    for (const c of v.Copies) {
      const what = c.Running ? 'running' : c.Consistent === null ? 'not judged' : c.Consistent ? `consistent through write ${c.PrefixSeq}${c.OnCurrentHistory === false ? ' (of a superseded history)' : ''}` : `INCONSISTENT (${c.Mismatches.length} unit(s) differ)`;
      lines.push(`    ${c.Host}: ${what}`);
    }
  }
  for (const p of json.Problems) lines.push(`problem: ${p}`);
  return { json, text: lines.join('\n'), exitCode: json.Ok ? ExitCodes.OK : ExitCodes.DIFFERS };
}
