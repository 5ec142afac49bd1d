import type { ColdStartAlone } from './cold-start';
import type { DetectorState, HeartbeatPath } from './detector';
import type { LeaseTimings } from './lease';
import type { ModuleState, WaitReason } from './record';

// The cluster layer's data (DESIGN C5): a snapshot of what this host knows, the events that reach
// it, and the effects it asks for. `step()` (step.ts) maps (snapshot, event) to the next snapshot
// and a list of effects; it does no I/O and reads no clock: time comes in events (`now`, local
// monotonic milliseconds).

export type { ModuleState, WaitReason };

export interface ClusterSettings extends LeaseTimings {
  /** Peer declared lost after this long without a heartbeat on any path. */
  peerTimeoutMs: number;
  /** A witness is configured (without one, a lost peer never leads to a takeover). */
  witness: boolean;
  /** Time a returned default primary must stay in sync before an automatic failback. */
  failbackStableMs: number;
  /** Pause before an effect that failed is asked for again. */
  retryMs: number;
}

/** What the peer says of one module in its heartbeat. */
export interface PeerModuleView {
  state: ModuleState;
  epoch: number;
  owner: string | null;
  generation: number;
  /** Whether the VM runs on the peer (a takeover waits for 'off' or for the peer's lease to end). */
  vm: VmActivity;
}

export type VmActivity = 'off' | 'starting' | 'running' | 'stopping';

export interface ModuleSnapshot {
  name: string;
  defaultPrimary: string;
  failback: 'auto' | 'manual';
  fenceMode: 'TurnOff' | 'Save';
  state: ModuleState;
  waitReason: WaitReason | null;
  epoch: number;
  owner: string | null;
  generation: number;
  /** The VM on this host, as far as the effects this machine asked for have gone. */
  vm: VmActivity;
  /** A witness claim asked for and not yet answered, or granted and not yet acted on. */
  claim: { epoch: number; status: 'asked' | 'granted'; at: number } | null;
  /** A resync in flight (effect asked for, no answer yet). */
  resyncing: boolean;
  /** When an effect last failed (retry after `retryMs`). */
  failedAt: number | null;
  /** Since when this host (as default primary) has been SECOND with the peer in PRIM at the same epoch. */
  inSyncSince: number | null;
  failbackAsked: boolean;
  /** An operator asked for a planned switchover to this host in this step (consumed by decide()). */
  switchoverAsked?: boolean;
  /** The peer was lost while this host ran the VM: a new epoch must mark the peer's copy stale. */
  bumpPending: boolean;
  /** The cold-start opt-in of this module (Policies.ColdStartAloneSeconds), absent when it has none. */
  coldStartAlone?: ColdStartAlone;
  /** Policies.StartPriority (priority.ts); absent = Medium. */
  startPriority?: 'High' | 'Medium' | 'Low' | 'NoAutoStart';
}

export interface ClusterSnapshot {
  self: string;
  peerName: string;
  settings: ClusterSettings;
  now: number;
  detector: DetectorState;
  /** Our lease from the peer's vote and from the witness's (holder expiries, our clock). */
  lease: { fromPeerUntil: number | null; fromWitnessUntil: number | null };
  /** Until when we must honour the lease we last granted the peer (grantor expiry, our clock). */
  grantedToPeerUntil: number | null;
  /** What the peer last said of each module. */
  peerModules: Record<string, PeerModuleView>;
  /** The witness's current (epoch, owner) of each module, from its last lease reply (claims only grow). */
  witnessModules: Record<string, { epoch: number; owner: string | null }>;
  modules: Record<string, ModuleSnapshot>;
  /**
   * This host is in maintenance (`vmmirror drain`, docs/cluster.md "Maintenance"): nothing moves
   * onto it (no takeover, failback, switchover or first start here); what it already owns runs on.
   */
  maintenance?: boolean;
}

export type ClusterEvent =
  | { type: 'tick'; now: number }
  | {
      type: 'peer-heartbeat';
      now: number;
      path: HeartbeatPath;
      modules: Record<string, PeerModuleView>;
      /** The peer's answer to our last lease request: our send time of that request, and the grant. */
      answer?: { askedAt: number; grantedMs: number };
    }
  /** The witness renewed our lease; it says, in the same reply, the current epoch of each module. */
  | { type: 'witness-lease'; now: number; askedAt: number; grantedMs: number; claims: Record<string, { epoch: number; owner: string | null }> }
  | { type: 'witness-claim'; now: number; module: string; epoch: number; granted: boolean; current: { epoch: number; owner: string | null } }
  | { type: 'cycle-done'; now: number; module: string; epoch: number; generation: number }
  | { type: 'effect-done'; now: number; module: string; effect: EffectType; generation?: number; epoch?: number }
  | { type: 'effect-failed'; now: number; module: string; effect: EffectType; code: string }
  /**
   * An operator's command. `switchover`: move the VM to this host now by a planned switchover
   * (`vmmirror failover` / `failback`); decide() takes it in the same step or drops it (it is
   * never remembered for later), so the caller reads at once whether it was accepted.
   */
  | { type: 'operator'; now: number; module: string; command: 'stop' | 'start' | 'switchover' }
  /**
   * A planned switchover away from this host finished its part: the VM was stopped here, a final
   * cycle brought the peer's copy level, and `epoch` (this epoch + 1) was handed to `to`.
   */
  | { type: 'handed-over'; now: number; module: string; epoch: number; to: string }
  /** This host entered (`vmmirror drain`) or left (`vmmirror resume`) maintenance. */
  | { type: 'maintenance'; now: number; on: boolean }
  /**
   * What the hypervisor says of the VM here, when it differs from what the machine expects: the
   * guard fenced it (`guard`), or someone outside vmmirror started or stopped it (`outside`).
   */
  | { type: 'vm-observed'; now: number; module: string; activity: 'running' | 'off'; cause: 'guard' | 'outside' };

export type Effect =
  | { type: 'persist'; module: string; state: ModuleState; waitReason: WaitReason | null; epoch: number; owner: string | null; generation: number }
  | { type: 'fence'; module: string; mode: 'TurnOff' | 'Save' }
  | { type: 'stop-vm'; module: string }
  | { type: 'promote-replica'; module: string }
  | { type: 'start-vm'; module: string }
  | { type: 'claim-epoch'; module: string; epoch: number; kind: 'own' | 'takeover' | 'confirm' }
  | { type: 'resync'; module: string; epoch: number }
  | { type: 'failback'; module: string; epoch: number };
export type EffectType = Effect['type'];

export interface StepResult {
  next: ClusterSnapshot;
  effects: Effect[];
  /** Every state change this step made, in order (one structured log event each). */
  transitions: Array<{ module: string; from: ModuleState; to: ModuleState; epoch: number; reason: WaitReason | null }>;
}
