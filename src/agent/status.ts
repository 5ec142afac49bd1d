import { peerAlive, silentPaths } from '../cluster/detector';
import { quorumUntil, runnableUntil } from '../cluster/lease';
import type { ClusterSnapshot, ModuleSnapshot } from '../cluster/types';
import type { LoadedConfig, ResolvedModule } from '../config';
import type { CycleReport } from './cycle-report';
import type { HostStatus, ModuleStatus, QuorumStatus, StatusDocument, SyncReport } from './control/documents';
import type { ClusterModuleView, ModuleSummary } from './messages';
import { waitExplanation, type WaitContext } from './wait-explanation';

// Builds the `vmmirror status` document (docs/output.md) from the cluster snapshot and the agent's
// bookkeeping. Pure: no I/O and no clock (wall time and monotonic time are inputs), so every
// state can be shown from a hand-built snapshot in a unit test.

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

type ErrorEntry = { code: string; message: string; at: Date };

export interface StatusInputs {
  config: LoadedConfig;
  startedAt: Date;
  /** Wall time: timestamps in the document. */
  now: Date;
  /** Local monotonic time (src/util/mono.ts), the clock of the snapshot's instants. */
  monoNow: number;
  /** A peer-link connection is open now. */
  connected: boolean;
  /** This host's cluster snapshot: states, epochs, owners, generations, leases, detector. */
  cluster: ClusterSnapshot;
  /** The peer's last heartbeat: when, and its per-module summaries (generation, takenAt). */
  peer: { lastHeartbeatAt: Date | null; modules: Map<string, ModuleSummary> };
  /** What the peer last said of each module (with its wait reason). */
  peerCluster: Record<string, ClusterModuleView>;
  /** null: the cluster has no witness. */
  witness: { kind: 'Agent' | 'FileShare'; reachable: boolean; lastLeaseAt: Date | null } | null;
  /** Replicas this host holds (the generation's freeze time). */
  replicas: Map<string, { generation: number; takenAt: string | null }>;
  /** Generation each module this host sends last had acknowledged (the sender's state). */
  acknowledged: Map<string, { generation: number; takenAt: string | null }>;
  /** Modules whose replica here could not be opened. */
  replicaFailures?: Map<string, ErrorEntry>;
  lastCycles: Map<string, CycleReport>;
  /** Last failure per module (a cycle, a resync, a start...), cleared by the agent on success. */
  lastErrors: Map<string, ErrorEntry>;
  resync: Map<string, { bytesDone: number; bytesTotal: number; startedAt: Date }>;
  /** Modules whose reintegration discarded writes made here after the last replicated generation. */
  discarded: Set<string>;
  /** The replication schedule of each module this host sends. */
  cycles: Map<string, { running: boolean; nextAt: Date | null }>;
}

/** A duration left until a monotonic instant: 0 when past, null when there is none. */
function leftMs(until: number | null, monoNow: number): number | null {
  return until === null ? null : Math.max(0, Math.round(until - monoNow));
}

function lagMs(now: Date, takenAt: string | null): number | null {
  return takenAt === null ? null : Math.max(0, now.getTime() - Date.parse(takenAt));
}

function errorJson(e: ErrorEntry | null | undefined): ModuleStatus['LastError'] {
  return e == null ? null : { Code: e.code, Message: e.message, At: e.at.toISOString() };
}

/** The newer of two errors (the replica side and the agent record failures separately). */
function latest(a: ErrorEntry | undefined, b: ErrorEntry | undefined): ErrorEntry | undefined {
  if (a === undefined || b === undefined) return a ?? b;
  return a.at.getTime() >= b.at.getTime() ? a : b;
}

function percent(done: number, total: number): number | null {
  return total === 0 ? null : Math.min(100, Math.floor((done * 1000) / total) / 10);
}

function moduleStatus(i: StatusInputs, cfg: ResolvedModule, ctx: WaitContext): ModuleStatus {
  const name = cfg.name;
  const m: ModuleSnapshot | undefined = i.cluster.modules[name];
  const fromPeer = i.peerCluster[name];
  const peerSays = fromPeer ?? i.cluster.peerModules[name];
  const summary = i.peer.modules.get(name);
  const owns = m !== undefined && m.owner === i.config.self.Name;
  // The replica lives on the host that does not own the module: its freeze time is the RPO now.
  const replicaTakenAt = owns ? (summary?.takenAt ?? i.acknowledged.get(name)?.takenAt ?? null) : (i.replicas.get(name)?.takenAt ?? null);
  const last = i.lastCycles.get(name) ?? null;
  const atRisk = owns && last !== null ? last.changedRangeBytes : null;
  const resync = i.resync.get(name);
  const cycle = i.cycles.get(name);
  const runningOn: string[] = [];
  if (m !== undefined && m.vm !== 'off') runningOn.push(i.config.self.Name);
  // A silent peer's last word is history, not where the VM runs: by the lease rules it fenced
  // before anything could start here (docs/cluster.md, C1). PeerVmActivity still shows what it said.
  if (ctx.peerAlive && peerSays !== undefined && peerSays.vm !== 'off') runningOn.push(i.cluster.peerName);
  return {
    Name: name,
    VmName: cfg.vmName,
    DefaultPrimary: cfg.defaultPrimary,
    Failback: m?.failback ?? cfg.policies.failback,
    Role: owns ? 'Primary' : 'Secondary',
    State: m?.state ?? null,
    PeerState: peerSays?.state ?? null,
    Epoch: m?.epoch ?? null,
    PeerEpoch: peerSays?.epoch ?? null,
    Owner: m?.owner ?? null,
    PeerOwner: peerSays?.owner ?? null,
    VmActivity: m?.vm ?? null,
    PeerVmActivity: peerSays?.vm ?? null,
    RunningOn: runningOn,
    LocalGeneration: m?.generation ?? null,
    PeerGeneration: peerSays?.generation ?? summary?.generation ?? null,
    ReplicaTakenAt: replicaTakenAt,
    ReplicationLagMs: lagMs(i.now, replicaTakenAt),
    DataAtRiskBytes: atRisk,
    DataAtRiskMeasuredAt: atRisk !== null && last !== null ? last.takenAt.toISOString() : null,
    WaitReason: m?.state === 'WAIT' ? m.waitReason : null,
    WaitExplanation: m === undefined ? null : waitExplanation(m, ctx),
    PeerWaitReason: fromPeer?.waitReason ?? null,
    Resync: resync === undefined ? null : { BytesDone: resync.bytesDone, BytesTotal: resync.bytesTotal, Percent: percent(resync.bytesDone, resync.bytesTotal), StartedAt: resync.startedAt.toISOString() },
    DiscardedLocalWrites: i.discarded.has(name),
    CycleRunning: cycle?.running ?? false,
    NextCycleAt: cycle?.nextAt?.toISOString() ?? null,
    LastCycle: last !== null ? syncReportJson(last) : null,
    LastError: errorJson(latest(i.lastErrors.get(name), i.replicaFailures?.get(name))),
  };
}

function quorumStatus(c: ClusterSnapshot, monoNow: number): QuorumStatus {
  const valid = (until: number | null): boolean => until !== null && monoNow < until;
  const fromPeer = valid(c.lease.fromPeerUntil);
  const fromWitness = valid(c.lease.fromWitnessUntil);
  return {
    HoldsLease: fromPeer || fromWitness,
    RunnableForMs: leftMs(runnableUntil(quorumUntil(c.lease.fromPeerUntil, c.lease.fromWitnessUntil), c.settings), monoNow),
    FromPeer: fromPeer,
    FromWitness: fromWitness,
    GrantedToPeerForMs: leftMs(c.grantedToPeerUntil, monoNow),
  };
}

function hostStatus(i: StatusInputs, h: LoadedConfig['hosts'][number], alive: boolean): HostStatus {
  const self = h.Name === i.config.self.Name;
  const c = i.cluster;
  return {
    Name: h.Name,
    Address: h.Address,
    Port: h.Port,
    Self: self,
    Reachable: self ? true : alive,
    LinkConnected: self ? false : i.connected,
    LastHeartbeatAt: self ? null : (i.peer.lastHeartbeatAt?.toISOString() ?? null),
    // A path silent while another answers is a cut network; a peer silent on all is Reachable false instead.
    SilentHeartbeatPaths: self || !alive ? [] : silentPaths(c.detector, i.monoNow, c.settings.peerTimeoutMs).sort(),
    HeartbeatPaths: self ? [] : heartbeatPaths(i, h),
  };
}

/** The peer's heartbeat paths with the age of the last heartbeat on each (null: never heard since the agent started). */
function heartbeatPaths(i: StatusInputs, peer: LoadedConfig['hosts'][number]): HostStatus['HeartbeatPaths'] {
  const heard = i.cluster.detector.lastHeardAt;
  const age = (t: number | undefined): number | null => (t === undefined ? null : Math.max(0, Math.round(i.monoNow - t)));
  const out: HostStatus['HeartbeatPaths'] = [{ Path: 'primary', Endpoint: `${peer.Address}:${peer.Port}`, LastHeardAgoMs: age(heard.primary) }];
  if (peer.SecondaryAddress !== undefined || i.config.self.SecondaryAddress !== undefined) {
    out.push({ Path: 'secondary', Endpoint: peer.SecondaryAddress === undefined ? 'inbound' : `${peer.SecondaryAddress}:${peer.SecondaryPort ?? peer.Port}`, LastHeardAgoMs: age(heard.secondary) });
  }
  return out;
}

/** The `vmmirror status` document. */
export function buildStatus(i: StatusInputs): StatusDocument {
  const c = i.cluster;
  const alive = peerAlive(c.detector, i.monoNow, c.settings.peerTimeoutMs);
  const ctx: WaitContext = { self: i.config.self.Name, peerName: c.peerName, peerAlive: alive, witnessReachable: i.witness === null ? null : i.witness.reachable };
  return {
    Cluster: i.config.clusterName,
    Host: i.config.self.Name,
    AgentPid: process.pid,
    AgentStartedAt: i.startedAt.toISOString(),
    GeneratedAt: i.now.toISOString(),
    Hosts: i.config.hosts.map((h) => hostStatus(i, h, alive)),
    Quorum: quorumStatus(c, i.monoNow),
    Witness: i.witness === null ? null : { Kind: i.witness.kind, Reachable: i.witness.reachable, LastLeaseAt: i.witness.lastLeaseAt?.toISOString() ?? null },
    Modules: i.config.modules.map((m) => moduleStatus(i, m, ctx)),
  };
}
