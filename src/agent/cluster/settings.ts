import { join } from 'node:path';
import type { LoadedConfig } from '../../config';
import type { ClusterSettings } from '../../cluster';

// The cluster layer's timings, from cluster.json (both hosts read the same file, so both count
// with the same figures). The lease lasts as long as the peer-loss timeout: a host that stops
// hearing its peer has, by then, also stopped holding its vote. The fence lead and the grant
// margin scale with it, so a test cluster with short timeouts keeps the same proportions.

export function clusterSettings(config: LoadedConfig): ClusterSettings {
  const leaseMs = config.agent.PeerLossTimeoutMs;
  return {
    leaseMs,
    // Time to turn the VMs off before the lease can expire anywhere (TurnOff takes under a second on Hyper-V).
    fenceLeadMs: Math.max(300, Math.round(leaseMs * 0.3)),
    grantMarginMs: Math.max(100, Math.round(leaseMs * 0.1)),
    driftPpm: 1000,
    peerTimeoutMs: config.agent.PeerLossTimeoutMs,
    witness: config.witness !== undefined,
    failbackStableMs: config.agent.FailbackStableSeconds * 1000,
    // A refused claim (the owner's lease still live at the witness) is asked again this soon: it
    // bounds how late after the lease's end a takeover starts.
    retryMs: Math.max(250, Math.min(500, Math.round(config.agent.HeartbeatIntervalMs / 2))),
  };
}

/** Where the durable module records live (src/cluster/record-store.ts). */
export function recordsDir(config: LoadedConfig): string {
  return join(config.dataDir, 'cluster');
}
