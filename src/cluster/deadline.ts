import { lastHeard } from './detector';
import { quorumUntil, runnableUntil } from './lease';
import type { ClusterSnapshot } from './types';

// When the effect runner must call step() with a tick next, even if nothing arrives: the earliest
// instant at which time alone can change a decision. The fence deadline is among them, so a host
// never fences late because its ticks were coarse (C1); the runner also ticks at a fixed period.

export function nextDeadline(s: ClusterSnapshot): number | null {
  const t = s.settings;
  const candidates: Array<number | null> = [runnableUntil(quorumUntil(s.lease.fromPeerUntil, s.lease.fromWitnessUntil), t), s.grantedToPeerUntil];
  const heard = lastHeard(s.detector);
  if (heard !== null) candidates.push(heard + t.peerTimeoutMs);
  for (const m of Object.values(s.modules)) {
    if (m.failedAt !== null) candidates.push(m.failedAt + t.retryMs);
    if (m.inSyncSince !== null && !m.failbackAsked) candidates.push(m.inSyncSince + t.failbackStableMs);
  }
  const future = candidates.filter((c): c is number => c !== null && c > s.now);
  return future.length === 0 ? null : Math.min(...future);
}
