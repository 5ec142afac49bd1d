import { z } from 'zod';
import { ModuleState, WaitReason } from '../../cluster/record';
import { HookReport } from '../../hooks/semantics';
import { MaintenanceStatus } from './maintenance-documents';

// The JSON documents of `vmmirror status` and `vmmirror sync` (docs/output.md): PascalCase,
// ISO 8601 UTC, bytes, milliseconds, enums as strings, lists always arrays.

const Iso = z.string().datetime();
const ErrorInfo = z.object({ Code: z.string(), Message: z.string(), At: Iso });

export const SyncReport = z.object({
  Module: z.string(),
  FromGeneration: z.number().int(),
  ToGeneration: z.number().int(),
  StartedAt: Iso,
  FinishedAt: Iso,
  DurationMs: z.number().int(),
  TakenAt: Iso,
  ChangeDetection: z.enum(['ChangedRanges', 'Scan']),
  Consistency: z.enum(['Application', 'Crash']).describe('Application: the guest quiesced (VSS) for the frozen view; Crash: as after a power cut'),
  ScanReason: z.string().nullable(),
  BytesScanned: z.number().int(),
  BytesChanged: z.number().int(),
  BlocksChanged: z.number().int(),
  StreamBytes: z.number().int(),
  WireBytes: z.number().int(),
  ManifestBytes: z.number().int(),
  Compression: z.enum(['none', 'deflate', 'brotli']),
  Files: z.array(z.object({ Name: z.string(), Size: z.number().int(), BlocksChanged: z.number().int(), BytesChanged: z.number().int(), ManifestDigest: z.string() })),
});
export type SyncReport = z.infer<typeof SyncReport>;

/** The figures of a planned switchover that happened (`vmmirror failover`/`failback`, and status). */
export const SwitchoverFigures = z.object({
  Epoch: z.number().int().describe('the epoch the move took'),
  FromGeneration: z.number().int().nullable().describe('the generation the new primary held before the final cycle'),
  ToGeneration: z.number().int().describe('the generation the final cycle made: every write before the stop'),
  FinalDeltaBytes: z.number().int().describe('bytes the final cycle streamed'),
  StopMs: z.number().int(),
  FinalSyncMs: z.number().int(),
  StartMs: z.number().int(),
  DowntimeMs: z.number().int().describe('from the stop on the old primary to the start on the new one'),
  FinishedAt: Iso,
});
export type SwitchoverFigures = z.infer<typeof SwitchoverFigures>;

/** One condition of a planned switchover, judged by the host that would run the VM. */
export const SwitchoverCheck = z.object({ Name: z.string(), Passed: z.boolean(), Detail: z.string() });

/** `vmmirror failover` / `vmmirror failback --json` (docs/output.md). */
export const SwitchoverDocument = z.object({
  Module: z.string(),
  VmName: z.string(),
  Action: z.enum(['failover', 'failback']),
  WhatIf: z.boolean().describe('true: only the plan; nothing changed'),
  From: z.string(),
  To: z.string(),
  /** The module's epoch when the command started. */
  Epoch: z.number().int(),
  Checks: z.array(SwitchoverCheck),
  /** null with --what-if. */
  Result: SwitchoverFigures.nullable(),
});
export type SwitchoverDocument = z.infer<typeof SwitchoverDocument>;

const HeartbeatPath = z.enum(['primary', 'secondary']);

export const HostStatus = z.object({
  Name: z.string(),
  Address: z.string(),
  Port: z.number().int(),
  Self: z.boolean(),
  /** The failure detector's verdict: a heartbeat arrived on some path within PeerLossTimeoutMs (always true for Self). */
  Reachable: z.boolean(),
  /** A peer-link connection is open now (false for Self). Reachable can be true without it for a moment: heartbeats decide. */
  LinkConnected: z.boolean(),
  LastHeartbeatAt: Iso.nullable(),
  /** Heartbeat paths gone silent while another still answers: a cut network, not a dead host ([] for Self). */
  SilentHeartbeatPaths: z.array(HeartbeatPath),
  /** Each heartbeat path to this host (the primary link; the second network when configured) and how long ago a heartbeat came on it ([] for Self). */
  HeartbeatPaths: z.array(z.object({ Path: HeartbeatPath, Endpoint: z.string(), LastHeardAgoMs: z.number().int().min(0).nullable() })).default([]),
});
export type HostStatus = z.infer<typeof HostStatus>;

/** This host's quorum (DESIGN C1): its own vote plus a lease from the peer or the witness. */
export const QuorumStatus = z.object({
  /** A lease from a second vote is valid now. */
  HoldsLease: z.boolean(),
  /** Time left before this host must have fenced its VMs (the lease less the fence lead); 0 when past, null with no lease ever. */
  RunnableForMs: z.number().int().nullable(),
  FromPeer: z.boolean(),
  FromWitness: z.boolean(),
  /** Time left on the vote this host granted the peer (a takeover here waits for it to end); null when none. */
  GrantedToPeerForMs: z.number().int().nullable(),
});
export type QuorumStatus = z.infer<typeof QuorumStatus>;

export const WitnessStatus = z.object({
  Kind: z.enum(['Agent', 'FileShare']),
  Reachable: z.boolean(),
  LastLeaseAt: Iso.nullable(),
});
export type WitnessStatus = z.infer<typeof WitnessStatus>;

export const ResyncStatus = z.object({
  BytesDone: z.number().int().min(0),
  BytesTotal: z.number().int().min(0),
  /** BytesDone / BytesTotal in percent, one decimal; null while BytesTotal is not known (0). */
  Percent: z.number().min(0).max(100).nullable(),
  StartedAt: Iso,
});

const VmActivity = z.enum(['off', 'starting', 'running', 'stopping']);

export const ModuleStatus = z.object({
  Name: z.string(),
  VmName: z.string(),
  DefaultPrimary: z.string(),
  Failback: z.enum(['auto', 'manual']),
  /** Primary when this host owns the module's current epoch (as this host knows it), else Secondary. */
  Role: z.enum(['Primary', 'Secondary']),
  /** DESIGN section 6 state on this host; null only if the cluster layer has no snapshot of the module. */
  State: ModuleState.nullable(),
  /** The state the peer last reported (its last heartbeat); null if it never did. */
  PeerState: ModuleState.nullable(),
  Epoch: z.number().int().nullable(),
  PeerEpoch: z.number().int().nullable(),
  /** Host that runs the VM in this host's epoch (null before the first start). */
  Owner: z.string().nullable(),
  PeerOwner: z.string().nullable(),
  VmActivity: VmActivity.nullable(),
  PeerVmActivity: VmActivity.nullable(),
  /** Hosts whose side says the VM is not off (running, starting or stopping): [] or one name; two means both say so. */
  RunningOn: z.array(z.string()),
  LocalGeneration: z.number().int().nullable(),
  PeerGeneration: z.number().int().nullable(),
  ReplicaTakenAt: Iso.nullable(),
  ReplicationLagMs: z.number().int().nullable(),
  DataAtRiskBytes: z.number().int().nullable(),
  DataAtRiskMeasuredAt: Iso.nullable(),
  WaitReason: WaitReason.nullable(),
  /** One sentence for an operator: why the module waits (WAIT) or is stopped (STOP); null otherwise. */
  WaitExplanation: z.string().nullable(),
  /** The wait reason the peer last reported, as it sent it (display only). */
  PeerWaitReason: z.string().nullable(),
  Resync: ResyncStatus.nullable(),
  /** A reintegration threw away writes made on this host after the last replicated generation. */
  DiscardedLocalWrites: z.boolean(),
  CycleRunning: z.boolean(),
  NextCycleAt: Iso.nullable(),
  LastCycle: SyncReport.nullable(),
  LastError: ErrorInfo.nullable(),
  /** The last planned switchover to this host since the agent started (with from and to); filled by the agent. */
  LastSwitchover: SwitchoverFigures.extend({ From: z.string(), To: z.string() }).nullable().optional(),
  /** The last hook (docs/hooks.md) around a start or stop here that failed, while no later run of it passed; filled by the agent. */
  LastHookFailure: HookReport.extend({ Reason: z.string(), At: Iso }).nullable().optional(),
  /** The guest heartbeat watch of this host (docs/cluster.md "VM health"); filled by the agent. */
  Health: z
    .object({
      /** False when Policies.Health.HeartbeatLossSeconds is null. */
      Watched: z.boolean(),
      /** The guest heartbeat as the hypervisor last said it here (null: the VM does not run here). */
      Heartbeat: z.string().nullable(),
      /** How long the heartbeat has been lost (null: it is not). */
      LostForMs: z.number().int().min(0).nullable(),
      /** Restarts on this host since the VM came here or since its last healthy period. */
      Restarts: z.number().int().min(0),
      /** Moves to the peer for a hung guest (they travel with the module). */
      Relocations: z.number().int().min(0),
      GivenUp: z.boolean(),
      LastAction: z.enum(['restart', 'relocate', 'give-up']).nullable(),
      LastActionAt: Iso.nullable(),
      LastReason: z.string().nullable(),
      /** One line: "health: ok", "health: heartbeat lost 12 s", "health: restarting", "health: given up"... */
      Summary: z.string(),
    })
    .nullable()
    .optional(),
});
export type ModuleStatus = z.infer<typeof ModuleStatus>;

export const StatusDocument = z.object({
  Cluster: z.string(),
  Host: z.string(),
  AgentPid: z.number().int(),
  AgentStartedAt: Iso,
  GeneratedAt: Iso,
  Hosts: z.array(HostStatus),
  Quorum: QuorumStatus,
  /** The configured witness as this agent sees it; null when the cluster has none. */
  Witness: WitnessStatus.nullable(),
  Modules: z.array(ModuleStatus),
  /** Maintenance (docs/cluster.md "Maintenance"); filled by the agent. */
  Maintenance: MaintenanceStatus.optional(),
});
export type StatusDocument = z.infer<typeof StatusDocument>;
