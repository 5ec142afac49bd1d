import { callAgent } from '../../agent/control/client';
import { DrainDocument } from '../../agent/control/maintenance-documents';
import { controlEndpoint } from '../../agent/control/endpoint';
import { UsageError, VmmirrorError } from '../../errors';
import type { CommandOutcome } from '../command';
import { emit } from '../output';

// `vmmirror drain <host> [--what-if]` (and, through runMaintenance, `vmmirror resume <host>`): the
// local agent drains the host (or asks the peer to drain itself) and answers when every module has
// been taken; the output schema is DrainDocument (docs/output.md). A drain that left a VM on the
// host fails DRAIN_INCOMPLETE with the report in Details.Report: a script's `drain && patch` stops.

export { DrainDocument };

export interface MaintenanceCliOptions {
  whatIf?: boolean;
  dir?: string;
  timeout: string;
}

function text(d: DrainDocument): string {
  const lines = [`${d.Action} of ${d.Host}${d.WhatIf ? ' (what-if: nothing changed)' : ''}: ${d.InMaintenance ? 'in maintenance' : 'not in maintenance'}, ${d.DurationMs} ms${d.Resumed ? ' (taken up after an agent restart)' : ''}`];
  for (const m of d.Modules) {
    const figures = m.Outcome === 'moved' ? `: to ${m.To}, downtime ${m.DowntimeMs} ms, final delta ${m.FinalDeltaBytes} B` : m.Message !== null ? `: ${m.Message}` : '';
    lines.push(`  ${m.Outcome.padEnd(8)} ${m.Module} (${m.VmName})${figures}`);
  }
  return lines.join('\n');
}

export async function runMaintenance(action: 'drain' | 'resume', host: string, opts: MaintenanceCliOptions): Promise<CommandOutcome> {
  const seconds = Number(opts.timeout);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`--timeout must be a positive number of seconds, got ${JSON.stringify(opts.timeout)}`);
  if (host.trim() === '') throw new UsageError('a host name is needed');
  const endpoint = { ...(await controlEndpoint(opts.dir)), timeoutMs: seconds * 1000 };
  const query = new URLSearchParams({ whatIf: opts.whatIf === true ? 'true' : 'false' });
  const answer = await callAgent(endpoint, 'POST', `/v1/hosts/${encodeURIComponent(host)}/${action}?${query.toString()}`);
  const json = emit(DrainDocument, answer as DrainDocument);
  const left = json.Modules.filter((m) => m.Outcome === 'refused' || m.Outcome === 'failed');
  if (!json.WhatIf && left.length > 0) {
    throw new VmmirrorError('DRAIN_INCOMPLETE', `drain of ${json.Host}: ${left.length} module(s) still run there (${left.map((m) => `${m.Module}: ${m.Code ?? m.Outcome}`).join('; ')}); it stays in maintenance. Fix the cause and run vmmirror drain ${json.Host} again`, { details: { Report: json } });
  }
  return { json, text: text(json) };
}

export function runDrain(host: string, opts: MaintenanceCliOptions): Promise<CommandOutcome> {
  return runMaintenance('drain', host, opts);
}
