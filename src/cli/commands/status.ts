import { callAgent } from '../../agent/control/client';
import type { ModuleStatus, StatusDocument } from '../../agent/control/documents';
import { controlEndpoint } from '../../agent/control/endpoint';
import type { CommandOutcome } from '../command';
import { emit } from '../output';

// `vmmirror status`: hosts (reachable, last heartbeat) and modules (role, generations, lag, last cycle).

function ago(iso: string | null, now: number): string {
  if (iso === null) return 'never';
  return `${((now - Date.parse(iso)) / 1000).toFixed(1)} s ago`;
}

function moduleLine(m: ModuleStatus): string {
  const lag = m.ReplicationLagMs === null ? '-' : `${(m.ReplicationLagMs / 1000).toFixed(1)} s`;
  const last = m.LastCycle === null ? 'no cycle yet' : `last cycle ${m.LastCycle.StreamBytes} B in ${m.LastCycle.DurationMs} ms (${m.LastCycle.ChangeDetection})`;
  const err = m.LastError === null ? '' : `\n      last error ${m.LastError.Code}: ${m.LastError.Message}`;
  return `  ${m.Name.padEnd(16)} ${m.State.padEnd(6)} gen local ${m.LocalGeneration ?? '-'} peer ${m.PeerGeneration ?? '-'}  lag ${lag}  at risk ${m.DataAtRiskBytes ?? '-'} B  ${last}${err}`;
}

/** Text rendering of a status document. */
export function statusText(s: StatusDocument): string {
  const now = Date.parse(s.GeneratedAt);
  const hosts = s.Hosts.map((h) => `  ${h.Name.padEnd(16)} ${h.Self ? 'this host' : h.Reachable ? 'reachable' : 'UNREACHABLE'}  ${h.Address}:${h.Port}${h.Self ? '' : `  last heartbeat ${ago(h.LastHeartbeatAt, now)}`}`);
  return [`cluster ${s.Cluster}, host ${s.Host} (agent pid ${s.AgentPid})`, 'hosts:', ...hosts, 'modules:', ...(s.Modules.length > 0 ? s.Modules.map(moduleLine) : ['  (none)'])].join('\n');
}

export interface StatusOptions {
  dir?: string;
}

/** Asks the local agent for its status (definitions/status.ts declares the command). */
export async function runStatus(opts: StatusOptions): Promise<CommandOutcome> {
  const answer = await callAgent(await controlEndpoint(opts.dir), 'GET', '/v1/status');
  // The status schemas load only once the agent has answered: with no agent, status fails fast.
  const { StatusDocument } = require('../../agent/control/documents') as typeof import('../../agent/control/documents');
  const doc = emit(StatusDocument, answer as StatusDocument);
  return { json: doc, text: statusText(doc) };
}
