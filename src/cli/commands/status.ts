import { callAgent } from '../../agent/control/client';
import type { HostStatus, ModuleStatus, StatusDocument } from '../../agent/control/documents';
import { controlEndpoint } from '../../agent/control/endpoint';
import type { CommandOutcome } from '../command';
import { emit } from '../output';

// `vmmirror status`: quorum, witness, hosts (reachable, last heartbeat) and modules (state on each
// host, epoch, where the VM runs, generations, lag, why it waits, resync progress, last cycle).

function ago(iso: string | null, now: number): string {
  if (iso === null) return 'never';
  return `${((now - Date.parse(iso)) / 1000).toFixed(1)} s ago`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** The cluster's view of one module: each host's state and epoch, and where the VM runs. */
function clusterLine(m: ModuleStatus): string {
  const peer = m.PeerState === null ? 'peer state unknown' : `peer ${m.PeerState}${m.PeerWaitReason !== null ? ` (${m.PeerWaitReason})` : ''} at epoch ${m.PeerEpoch ?? '-'}`;
  const runs = m.RunningOn.length === 0 ? 'VM runs nowhere' : m.RunningOn.length > 1 ? `VM RUNS ON BOTH: ${m.RunningOn.join(', ')}` : `VM runs on ${m.RunningOn[0]}`;
  return `      epoch ${m.Epoch ?? '-'} owner ${m.Owner ?? '-'}, ${peer}, ${runs}`;
}

function moduleLines(m: ModuleStatus): string[] {
  const lag = m.ReplicationLagMs === null ? '-' : seconds(m.ReplicationLagMs);
  const last = m.LastCycle === null ? 'no cycle yet' : `last cycle ${m.LastCycle.StreamBytes} B in ${m.LastCycle.DurationMs} ms (${m.LastCycle.ChangeDetection})`;
  const lines = [`  ${m.Name.padEnd(16)} ${(m.State ?? '?').padEnd(6)} gen local ${m.LocalGeneration ?? '-'} peer ${m.PeerGeneration ?? '-'}  lag ${lag}  at risk ${m.DataAtRiskBytes ?? '-'} B  ${last}`, clusterLine(m)];
  if (m.WaitExplanation !== null) lines.push(`      ${m.WaitReason ?? m.State ?? ''}: ${m.WaitExplanation}`);
  if (m.Resync !== null) lines.push(`      resync ${m.Resync.Percent === null ? '?' : m.Resync.Percent.toFixed(1)}% (${m.Resync.BytesDone} of ${m.Resync.BytesTotal} B)`);
  if (m.DiscardedLocalWrites) lines.push('      writes made here after the last replicated generation were discarded by the reintegration');
  if (m.LastError !== null) lines.push(`      last error ${m.LastError.Code}: ${m.LastError.Message}`);
  return lines;
}

function quorumLine(s: StatusDocument): string {
  const q = s.Quorum;
  const votes = [q.FromPeer ? 'peer' : null, q.FromWitness ? 'witness' : null].filter((v) => v !== null).join(', ');
  const held = q.HoldsLease ? `lease held (${votes})` : 'NO LEASE';
  const runnable = q.RunnableForMs === null ? '' : `, runnable for ${seconds(q.RunnableForMs)}`;
  const granted = q.GrantedToPeerForMs === null ? '' : `; vote granted to the peer for ${seconds(q.GrantedToPeerForMs)}`;
  return `quorum: ${held}${runnable}${granted}`;
}

function witnessLine(s: StatusDocument, now: number): string {
  if (s.Witness === null) return 'witness: none configured';
  return `witness: ${s.Witness.Kind}, ${s.Witness.Reachable ? 'reachable' : 'UNREACHABLE'}, last lease ${ago(s.Witness.LastLeaseAt, now)}`;
}

function hostLine(h: HostStatus, now: number): string {
  if (h.Self) return `  ${h.Name.padEnd(16)} this host  ${h.Address}:${h.Port}`;
  const silent = h.SilentHeartbeatPaths.length > 0 ? `  silent heartbeat paths: ${h.SilentHeartbeatPaths.join(', ')}` : '';
  return `  ${h.Name.padEnd(16)} ${h.Reachable ? 'reachable' : 'UNREACHABLE'}  ${h.Address}:${h.Port}  last heartbeat ${ago(h.LastHeartbeatAt, now)}${silent}`;
}

/** Text rendering of a status document. */
export function statusText(s: StatusDocument): string {
  const now = Date.parse(s.GeneratedAt);
  const modules = s.Modules.length > 0 ? s.Modules.flatMap(moduleLines) : ['  (none)'];
  return [`cluster ${s.Cluster}, host ${s.Host} (agent pid ${s.AgentPid})`, quorumLine(s), witnessLine(s, now), 'hosts:', ...s.Hosts.map((h) => hostLine(h, now)), 'modules:', ...modules].join('\n');
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
