import type { PeerModuleView } from '../../cluster';
import type { Logger } from '../../log';
import type { PeerConnection } from '../../peer';
import { monoNow } from '../../util/mono';
import { AgentHeartbeat, type ClusterModuleView, type ModuleSummary } from '../messages';
import type { ClusterRuntime } from './runtime';

// Heartbeats carry each host's view of its modules both ways, and the reply carries the replier's
// vote: a lease the asker counts from before it sent (DESIGN C4). Answering a heartbeat is what
// grants it; the cluster layer records the grant (grantor side) when the request is applied.

export type HeartbeatBody = { host: string; sentAt: string; modules: ModuleSummary[]; cluster?: { modules: Record<string, ClusterModuleView>; grantMs?: number } };

function peerViews(v: Record<string, ClusterModuleView> | undefined): Record<string, PeerModuleView> {
  const out: Record<string, PeerModuleView> = {};
  for (const [name, m] of Object.entries(v ?? {})) out[name] = { state: m.state, epoch: m.epoch, owner: m.owner, generation: m.generation, vm: m.vm };
  return out;
}

/** The peer's heartbeat request arrived: apply it (we grant our vote by answering) and build the reply. */
export function answerHeartbeat(rt: ClusterRuntime, body: HeartbeatBody, self: string, summaries: () => ModuleSummary[], onPeerCluster: (v: Record<string, ClusterModuleView>) => void): HeartbeatBody {
  if (body.cluster !== undefined) onPeerCluster(body.cluster.modules);
  rt.dispatch({ type: 'peer-heartbeat', path: 'primary', modules: peerViews(body.cluster?.modules) });
  return { host: self, sentAt: new Date().toISOString(), modules: summaries(), cluster: { modules: rt.views(), grantMs: rt.snapshot.settings.leaseMs } };
}

/** Sends a heartbeat every `intervalMs` while a connection exists; returns a stop function. */
export function startClusterHeartbeats(o: {
  rt: ClusterRuntime;
  intervalMs: number;
  host: string;
  current(): PeerConnection | undefined;
  summaries(): ModuleSummary[];
  onReply(body: HeartbeatBody): void;
  log: Logger;
}): () => void {
  let busy = false;
  const beat = async (): Promise<void> => {
    const conn = o.current();
    if (conn === undefined || busy) return;
    busy = true;
    // Read before sending: the lease counts from here, however late the answer comes.
    const askedAt = monoNow();
    try {
      const reply = await conn.request(AgentHeartbeat, { host: o.host, sentAt: new Date().toISOString(), modules: o.summaries(), cluster: { modules: o.rt.views() } }, { timeoutMs: o.intervalMs * 3 });
      o.onReply(reply);
      const grantMs = reply.cluster?.grantMs;
      o.rt.dispatch({ type: 'peer-heartbeat', path: 'primary', modules: peerViews(reply.cluster?.modules), ...(grantMs !== undefined ? { answer: { askedAt, grantedMs: grantMs } } : {}) });
    } catch (err) {
      o.log.debug({ err }, 'heartbeat not answered');
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void beat(), o.intervalMs);
  void beat();
  return () => clearInterval(timer);
}
