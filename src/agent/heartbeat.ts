import type { Logger } from '../log';
import type { PeerConnection } from '../peer';
import { AgentHeartbeat, type ModuleSummary } from './messages';

// Agent-level heartbeats: liveness of the peer agent (not just its TLS socket) and each side's
// view of its modules. The cluster issue extends the body with votes and leases.

export interface PeerView {
  lastHeartbeatAt: Date | null;
  modules: Map<string, ModuleSummary>;
}

/** Records a heartbeat body from the peer. */
export function recordHeartbeat(view: PeerView, body: { modules: ModuleSummary[] }): void {
  view.lastHeartbeatAt = new Date();
  view.modules = new Map(body.modules.map((m) => [m.name, m]));
}

/** Sends heartbeats every `intervalMs` while a connection exists; returns a stop function. */
export function startHeartbeats(o: {
  intervalMs: number;
  host: string;
  current(): PeerConnection | undefined;
  summaries(): ModuleSummary[];
  view: PeerView;
  log: Logger;
}): () => void {
  let busy = false;
  const beat = async (): Promise<void> => {
    const conn = o.current();
    if (conn === undefined || busy) return;
    busy = true;
    try {
      const reply = await conn.request(AgentHeartbeat, { host: o.host, sentAt: new Date().toISOString(), modules: o.summaries() }, { timeoutMs: o.intervalMs * 3 });
      recordHeartbeat(o.view, reply);
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
