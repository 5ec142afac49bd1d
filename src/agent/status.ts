import type { LoadedConfig } from '../config';
import type { CycleReport } from './cycle-report';
import type { SyncReport, ModuleStatus, StatusDocument } from './control/documents';
import type { PeerView } from './heartbeat';
import type { ModuleRunner } from './module-runner';

// Builds the status document from the agent's live state (pure: no I/O).

/** The sync/last-cycle JSON shape of a cycle report. */
export function syncReportJson(r: CycleReport): SyncReport {
  return {
    Module: r.module,
    FromGeneration: r.fromGeneration,
    ToGeneration: r.toGeneration,
    StartedAt: r.startedAt.toISOString(),
    FinishedAt: r.finishedAt.toISOString(),
    DurationMs: r.durationMs,
    TakenAt: r.takenAt.toISOString(),
    ChangeDetection: r.detection,
    Consistency: r.consistency,
    ScanReason: r.scanReason,
    BytesScanned: r.bytesScanned,
    BytesChanged: r.bytesChanged,
    BlocksChanged: r.blocksChanged,
    StreamBytes: r.streamBytes,
    WireBytes: r.wireBytes,
    ManifestBytes: r.manifestBytes,
    Compression: r.compression,
    Files: r.files.map((f) => ({ Name: f.name, Size: f.size, BlocksChanged: f.blocksChanged, BytesChanged: f.bytesChanged, ManifestDigest: f.manifestDigest })),
  };
}

export interface StatusInputs {
  config: LoadedConfig;
  startedAt: Date;
  now: Date;
  connected: boolean;
  peer: PeerView;
  runners: ModuleRunner[];
  /** Replicas this host holds (secondary side). */
  replicas: Map<string, { generation: number; takenAt: string | null }>;
  /** Generation each primary module last had acknowledged (from the sender's state). */
  acknowledged: Map<string, { generation: number; takenAt: string | null }>;
  /** Secondary modules whose replica could not be opened (their LastError). */
  replicaFailures?: Map<string, { code: string; message: string; at: Date }>;
}

function lagMs(now: Date, takenAt: string | null): number | null {
  return takenAt === null ? null : Math.max(0, now.getTime() - Date.parse(takenAt));
}

/** The `vmmirror status` document. */
export function buildStatus(i: StatusInputs): StatusDocument {
  const reachable = i.connected && i.peer.lastHeartbeatAt !== null && i.now.getTime() - i.peer.lastHeartbeatAt.getTime() <= i.config.agent.PeerLossTimeoutMs;
  const modules: ModuleStatus[] = i.runners.map((r) => {
    const m = r.module;
    const peer = i.peer.modules.get(m.name);
    const primary = r.role === 'primary';
    const local = primary ? i.acknowledged.get(m.name) : i.replicas.get(m.name);
    const replicaTakenAt = primary ? (peer?.takenAt ?? local?.takenAt ?? null) : (local?.takenAt ?? null);
    const last = r.lastCycle;
    const error = primary ? r.lastError : (i.replicaFailures?.get(m.name) ?? null);
    return {
      Name: m.name,
      VmName: m.vmName,
      DefaultPrimary: m.defaultPrimary,
      Role: primary ? 'Primary' : 'Secondary',
      State: primary ? (reachable ? 'PRIM' : 'ALONE') : 'SECOND',
      LocalGeneration: local?.generation ?? null,
      PeerGeneration: peer?.generation ?? null,
      ReplicaTakenAt: replicaTakenAt,
      ReplicationLagMs: lagMs(i.now, replicaTakenAt),
      DataAtRiskBytes: primary ? (last?.changedRangeBytes ?? null) : null,
      DataAtRiskMeasuredAt: primary && last?.changedRangeBytes != null ? last.takenAt.toISOString() : null,
      CycleRunning: r.running,
      NextCycleAt: r.nextAt()?.toISOString() ?? null,
      LastCycle: last !== null ? syncReportJson(last) : null,
      LastError: error !== null ? { Code: error.code, Message: error.message, At: error.at.toISOString() } : null,
    };
  });
  return {
    Cluster: i.config.clusterName,
    Host: i.config.self.Name,
    AgentPid: process.pid,
    AgentStartedAt: i.startedAt.toISOString(),
    GeneratedAt: i.now.toISOString(),
    Hosts: i.config.hosts.map((h) => {
      const self = h.Name === i.config.self.Name;
      return {
        Name: h.Name,
        Address: h.Address,
        Port: h.Port,
        Self: self,
        Reachable: self ? true : reachable,
        LastHeartbeatAt: self ? null : (i.peer.lastHeartbeatAt?.toISOString() ?? null),
      };
    }),
    Modules: modules,
  };
}
