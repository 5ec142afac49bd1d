import { z } from 'zod';

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

export const HostStatus = z.object({
  Name: z.string(),
  Address: z.string(),
  Port: z.number().int(),
  Self: z.boolean(),
  Reachable: z.boolean(),
  LastHeartbeatAt: Iso.nullable(),
});

export const ModuleStatus = z.object({
  Name: z.string(),
  VmName: z.string(),
  DefaultPrimary: z.string(),
  Role: z.enum(['Primary', 'Secondary']),
  /** DESIGN section 6 state (PRIM, SECOND, ALONE, WAIT, STOP). */
  State: z.enum(['PRIM', 'SECOND', 'ALONE', 'WAIT', 'STOP']),
  LocalGeneration: z.number().int().nullable(),
  PeerGeneration: z.number().int().nullable(),
  ReplicaTakenAt: Iso.nullable(),
  ReplicationLagMs: z.number().int().nullable(),
  DataAtRiskBytes: z.number().int().nullable(),
  DataAtRiskMeasuredAt: Iso.nullable(),
  CycleRunning: z.boolean(),
  NextCycleAt: Iso.nullable(),
  LastCycle: SyncReport.nullable(),
  LastError: ErrorInfo.nullable(),
});
export type ModuleStatus = z.infer<typeof ModuleStatus>;

export const StatusDocument = z.object({
  Cluster: z.string(),
  Host: z.string(),
  AgentPid: z.number().int(),
  AgentStartedAt: Iso,
  GeneratedAt: Iso,
  Hosts: z.array(HostStatus),
  Modules: z.array(ModuleStatus),
});
export type StatusDocument = z.infer<typeof StatusDocument>;
