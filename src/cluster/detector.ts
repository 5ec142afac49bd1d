// Failure detection: the peer is alive while a heartbeat arrived on any of its paths (the
// production network, and an optional second network) within the timeout. Pure: the caller hands
// in the monotonic times at which heartbeats arrived.

export interface DetectorState {
  /** Local monotonic time of the last heartbeat per path; absent = never heard on that path. */
  lastHeardAt: Partial<Record<HeartbeatPath, number>>;
}

export type HeartbeatPath = 'primary' | 'secondary';

export const DEFAULT_PEER_TIMEOUT_MS = 5000;

export function heard(s: DetectorState, path: HeartbeatPath, now: number): DetectorState {
  return { lastHeardAt: { ...s.lastHeardAt, [path]: Math.max(now, s.lastHeardAt[path] ?? now) } };
}

/** Most recent heartbeat on any path, or null. */
export function lastHeard(s: DetectorState): number | null {
  const times = Object.values(s.lastHeardAt).filter((t): t is number => t !== undefined);
  return times.length === 0 ? null : Math.max(...times);
}

/** Alive: some path heard from within `timeoutMs`. Never heard counts as not alive. */
export function peerAlive(s: DetectorState, now: number, timeoutMs: number): boolean {
  const last = lastHeard(s);
  return last !== null && now - last < timeoutMs;
}

/** Paths that have gone silent while another still answers (a cut network, not a dead host). */
export function silentPaths(s: DetectorState, now: number, timeoutMs: number): HeartbeatPath[] {
  return (Object.keys(s.lastHeardAt) as HeartbeatPath[]).filter((p) => now - (s.lastHeardAt[p] as number) >= timeoutMs);
}
