import { callAgent } from '../../agent/control/client';
import { SwitchoverDocument } from '../../agent/control/documents';
import { controlEndpoint } from '../../agent/control/endpoint';
import { UsageError } from '../../errors';
import type { CommandOutcome } from '../command';
import { emit } from '../output';

// `vmmirror failover <module|vm> [--to <host>]` (and, through runSwitchover, `vmmirror failback`):
// the local agent plans and runs the planned switchover and answers when it is over. The output
// schema is SwitchoverDocument (src/agent/control/documents.ts, docs/output.md).

export { SwitchoverDocument };

export interface SwitchoverCliOptions {
  to?: string;
  whatIf?: boolean;
  dir?: string;
  timeout: string;
}

function text(d: SwitchoverDocument): string {
  const lines = [`${d.Action} of ${d.Module} (${d.VmName}): ${d.From} -> ${d.To}, epoch ${d.Epoch}${d.WhatIf ? ' (what-if: nothing changed)' : ''}`];
  for (const c of d.Checks) lines.push(`  ${c.Passed ? 'ok  ' : 'FAIL'} ${c.Name}: ${c.Detail}`);
  const r = d.Result;
  if (r !== null) {
    lines.push(`  moved under epoch ${r.Epoch}: generation ${r.FromGeneration ?? '?'} -> ${r.ToGeneration}, final delta ${r.FinalDeltaBytes} B`);
    lines.push(`  stop ${r.StopMs} ms, final sync ${r.FinalSyncMs} ms, start ${r.StartMs} ms; downtime ${r.DowntimeMs} ms`);
  }
  return lines.join('\n');
}

export async function runSwitchover(action: 'failover' | 'failback', target: string, opts: SwitchoverCliOptions): Promise<CommandOutcome> {
  const seconds = Number(opts.timeout);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`--timeout must be a positive number of seconds, got ${JSON.stringify(opts.timeout)}`);
  if (opts.to !== undefined && opts.to.trim() === '') throw new UsageError('--to needs a host name');
  const endpoint = { ...(await controlEndpoint(opts.dir)), timeoutMs: seconds * 1000 };
  const query = new URLSearchParams({ whatIf: opts.whatIf === true ? 'true' : 'false', ...(opts.to !== undefined ? { to: opts.to } : {}) });
  const answer = await callAgent(endpoint, 'POST', `/v1/modules/${encodeURIComponent(target)}/${action}?${query.toString()}`);
  const json = emit(SwitchoverDocument, answer as SwitchoverDocument);
  return { json, text: text(json) };
}

export function runFailover(target: string, opts: SwitchoverCliOptions): Promise<CommandOutcome> {
  return runSwitchover('failover', target, opts);
}
