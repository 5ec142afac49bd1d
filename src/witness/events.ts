import type { EventEmitter } from 'node:events';
import type { ClusterEvent } from '../cluster/types';
import type { ClaimKind } from '../cluster/witness-rules';

// What a witness client hands the cluster layer: exactly its events (src/cluster/types.ts), with
// `now` read from the same monotonic clock the agent feeds step() with. A claim that gets no
// answer (timeout, link down) ends as `effect-failed` of `claim-epoch`, so the machine retries.

export type WitnessEvent =
  | Extract<ClusterEvent, { type: 'witness-lease' }>
  | Extract<ClusterEvent, { type: 'witness-claim' }>
  | (Extract<ClusterEvent, { type: 'effect-failed' }> & { effect: 'claim-epoch' });

/** Both witness kinds (agent, file share) offer this; 'event' carries a WitnessEvent. */
export interface WitnessClient extends EventEmitter {
  /** Starts renewing the lease every heartbeat. */
  start(): void;
  /**
   * Asks for `epoch` of `module`; the answer arrives as an event (never as a rejection). With
   * `handover` this host, the current owner, gives `epoch` to `to` (the peer): the granted
   * event's `current` then names `to`.
   */
  claim(module: string, epoch: number, kind: ClaimKind, to?: string): void;
  /** Stops renewing; pending claims end as failed-claim events. */
  close(): Promise<void>;
}

export interface WitnessClientTimings {
  /** Lease renewal period (the heartbeat interval). */
  renewIntervalMs: number;
  /** How long a renewal or a claim may take before it counts as failed. */
  requestTimeoutMs: number;
}
