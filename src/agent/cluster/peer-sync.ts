import type { PeerModuleView } from '../../cluster';
import type { HeartbeatPath } from '../../cluster/detector';
import type { Logger } from '../../log';
import type { PeerConnection } from '../../peer';
import { monoNow } from '../../util/mono';
import type { HeartbeatLink } from '../link';
import { AgentHeartbeat, type ClusterModuleView, type ModuleSummary } from '../messages';
import type { ClusterRuntime } from './runtime';

// Heartbeats carry each host's view of its modules both ways, and the reply carries the replier's
// vote: a lease the asker counts from before it sent (DESIGN C4). Answering a heartbeat is what
// grants it; the cluster layer records the grant (grantor side) when the request is applied.
// The same exchange runs on each heartbeat path (the primary link and an optional second network),
// tagged with its path: the detector declares the peer lost only when every path is silent, and
// either path carries the votes, so a cut production LAN alone fences nothing and moves nothing.

export type HeartbeatBody = { host: string; sentAt: string; modules: ModuleSummary[]; cluster?: { modules: Record<string, ClusterModuleView>; grantMs?: number; maintenance?: boolean } };

function peerViews(v: Record<string, ClusterModuleView> | undefined): Record<string, PeerModuleView> {
  const out: Record<string, PeerModuleView> = {};
  for (const [name, m] of Object.entries(v ?? {})) out[name] = { state: m.state, epoch: m.epoch, owner: m.owner, generation: m.generation, vm: m.vm };
  return out;
}

/** The peer's heartbeat request arrived: apply it (we grant our vote by answering) and build the reply. */
export function answerHeartbeat(rt: ClusterRuntime, body: HeartbeatBody, self: string, summaries: () => ModuleSummary[], onPeerCluster: (v: Record<string, ClusterModuleView>) => void, path: HeartbeatPath = 'primary'): HeartbeatBody {
  if (body.cluster !== undefined) onPeerCluster(body.cluster.modules);
  rt.dispatch({ type: 'peer-heartbeat', path, modules: peerViews(body.cluster?.modules) });
  return { host: self, sentAt: new Date().toISOString(), modules: summaries(), cluster: { modules: rt.views(), grantMs: rt.snapshot.settings.leaseMs, maintenance: rt.snapshot.maintenance === true } };
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
  /** Which path `current()` is (default the primary link). */
  path?: HeartbeatPath;
}): () => void {
  const path = o.path ?? 'primary';
  let busy = false;
  const beat = async (): Promise<void> => {
    const conn = o.current();
    if (conn === undefined || busy) return;
    busy = true;
    // Read before sending: the lease counts from here, however late the answer comes.
    const askedAt = monoNow();
    try {
      const reply = await conn.request(AgentHeartbeat, { host: o.host, sentAt: new Date().toISOString(), modules: o.summaries(), cluster: { modules: o.rt.views(), maintenance: o.rt.snapshot.maintenance === true } }, { timeoutMs: o.intervalMs * 3 });
      o.onReply(reply);
      const grantMs = reply.cluster?.grantMs;
      o.rt.dispatch({ type: 'peer-heartbeat', path, modules: peerViews(reply.cluster?.modules), ...(grantMs !== undefined ? { answer: { askedAt, grantedMs: grantMs } } : {}) });
    } catch (err) {
      o.log.debug({ err, path }, 'heartbeat not answered');
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void beat(), o.intervalMs);
  void beat();
  return () => clearInterval(timer);
}

/**
 * The second heartbeat path (link.ts HeartbeatLink): serves heartbeats only (a delta stream or a
 * control request there finds no handler), listens and connects like the primary link, and beats
 * on its own timer. A listen failure (the address is not on this host) is logged loudly and the
 * path stays silent, which status shows; the primary path is unaffected.
 */
export async function startSecondaryHeartbeats(o: {
  link: HeartbeatLink | null;
  rt: ClusterRuntime;
  intervalMs: number;
  host: string;
  summaries(): ModuleSummary[];
  /** Every heartbeat body from the peer (request or reply), as on the primary path. */
  onPeerBody(body: HeartbeatBody): void;
  log: Logger;
}): Promise<() => void> {
  const link = o.link;
  if (link === null) return () => undefined;
  for (const h of [link.server, link.client]) {
    h?.onRequest(AgentHeartbeat, (body) => {
      o.onPeerBody(body);
      return answerHeartbeat(o.rt, body, o.host, o.summaries, () => undefined, 'secondary');
    });
  }
  if (link.server !== null) {
    await link.server.listen().catch((err: unknown) => o.log.error({ event: 'secondary-listen-failed', err }, 'cannot listen on the SecondaryAddress: the second heartbeat path stays silent'));
  }
  link.client?.start();
  return startClusterHeartbeats({ rt: o.rt, intervalMs: o.intervalMs, host: o.host, current: () => link.current(), summaries: o.summaries, onReply: o.onPeerBody, log: o.log, path: 'secondary' });
}
