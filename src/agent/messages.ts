import { z } from 'zod';
import { defineRequest } from '../peer';

// Agent-to-agent requests on the peer link. Both ends validate bodies and replies (zod); a module
// name from the wire only selects among this host's own configured modules, never a path.

const ModuleName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/);
const StreamId = z.string().regex(/^[0-9a-f]{32}$/);
const Digest = z.string().max(128);

export const ReplicaFileInfo = z.object({ name: z.string().max(255), size: z.number().int().min(0), manifestDigest: Digest }).strict();

/** One module as seen by the host sending a heartbeat. */
export const ModuleSummary = z
  .object({
    name: ModuleName,
    role: z.enum(['primary', 'secondary']),
    /** The replica generation this host holds (secondary) or last saw acknowledged (primary); null if none. */
    generation: z.number().int().min(0).nullable(),
    takenAt: z.string().datetime().nullable(),
  })
  .strict();
export type ModuleSummary = z.infer<typeof ModuleSummary>;

/** Ownership epoch on the wire: only grows; 0 = never owned. */
export const Epoch = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** What the sending host's cluster layer says of one module (src/cluster/types.ts PeerModuleView). */
export const ClusterModuleView = z
  .object({
    state: z.enum(['PRIM', 'SECOND', 'ALONE', 'WAIT', 'STOP']),
    epoch: Epoch,
    owner: z.string().max(63).nullable(),
    generation: z.number().int().min(0),
    vm: z.enum(['off', 'starting', 'running', 'stopping']),
    /** Why the module waits there (status only). */
    waitReason: z.string().max(32).nullable().default(null),
  })
  .strict();
export type ClusterModuleView = z.output<typeof ClusterModuleView>;

const HeartbeatBody = z
  .object({
    host: z.string().max(63),
    sentAt: z.string().datetime(),
    modules: z.array(ModuleSummary).max(10_000),
    /**
     * The sender's cluster view of each module it knows, and (in a reply) the vote it grants the
     * asker: `grantMs` counted by the asker from before it sent the request (DESIGN C4).
     */
    cluster: z
      .object({
        modules: z.record(ModuleName, ClusterModuleView),
        grantMs: z.number().int().min(0).max(600_000).optional(),
        /** The sender is in maintenance (docs/cluster.md "Maintenance"); absent from older agents. */
        maintenance: z.boolean().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** Agent heartbeat: liveness, each side's module view, and the peer's vote (a lease) in the reply. */
export const AgentHeartbeat = defineRequest('agent.heartbeat', HeartbeatBody, HeartbeatBody);

/** Disks the primary will send this cycle (names only select among the secondary's configured targets). */
const DiskAnnouncement = z.object({ name: z.string().min(1).max(255), sizeBytes: z.number().int().min(0).max(64 * 2 ** 40) }).strict();

/** P -> S: start a cycle. S answers with a fresh stream nonce and the state it holds (it is the authority, DESIGN I2). */
export const CycleBegin = defineRequest(
  'cycle.begin',
  // epoch: the sender's ownership epoch; the receiver refuses any other than the one it holds for the module (STALE_EPOCH).
  z.object({ module: ModuleName, epoch: Epoch, disks: z.array(DiskAnnouncement).min(1).max(64), blockSize: z.number().int().positive() }).strict(),
  z.object({ streamId: StreamId, epoch: Epoch, generation: z.number().int().min(0), takenAt: z.string().datetime().nullable(), files: z.array(ReplicaFileInfo).max(64) }).strict(),
);

/** P -> S: wait for the outcome of the stream just sent (journal, verify, commit, apply). */
export const CycleResult = defineRequest(
  'cycle.result',
  z.object({ module: ModuleName, streamId: StreamId }).strict(),
  z.object({ epoch: Epoch, generation: z.number().int().min(0), bytes: z.number().int().min(0), blocks: z.number().int().min(0), files: z.array(ReplicaFileInfo).max(64) }).strict(),
);

/**
 * Stale host -> owner: "my copy of this module is stale at your epoch: send me a cycle now" (the
 * resync of a returning host). The owner runs a cycle into the asker's copy (only differing
 * blocks move) and answers with the generation the asker now holds.
 */
export const ResyncRequest = defineRequest(
  'resync.request',
  z.object({ module: ModuleName, epoch: Epoch }).strict(),
  z.object({ epoch: Epoch, generation: z.number().int().min(0), bytes: z.number().int().min(0), diskBytes: z.number().int().min(0) }).strict(),
);

/**
 * Default primary -> owner: the planned switchover of a failback. The owner stops the VM (its
 * StopMode), sends a final cycle, hands the next epoch to the asker and answers with it; the
 * asker then starts the VM. Zero loss: every write made before the stop is in the final cycle.
 */
export const HandoverRequest = defineRequest(
  'handover.request',
  z.object({ module: ModuleName, epoch: Epoch }).strict(),
  z
    .object({
      epoch: Epoch,
      generation: z.number().int().min(0),
      finalBytes: z.number().int().min(0),
      stopMs: z.number().min(0),
      syncMs: z.number().min(0),
      /** The generation the asker held before the final cycle (the move's figures); absent from older agents. */
      fromGeneration: z.number().int().min(0).optional(),
      /** From the start of the stop to this reply, on the owner's clock (stop, final cycle, witness, record). */
      handoverMs: z.number().min(0).optional(),
    })
    .strict(),
);

/** One check of a planned switchover, as the host that would run the VM judged it. */
export const SwitchoverCheckWire = z.object({ name: z.string().max(32), passed: z.boolean(), detail: z.string().max(2000) }).strict();

/** The figures of a planned switchover that happened (docs/cluster.md, Planned switchover). */
export const SwitchoverFiguresWire = z
  .object({
    epoch: Epoch,
    fromGeneration: z.number().int().min(0).nullable(),
    toGeneration: z.number().int().min(0),
    finalBytes: z.number().int().min(0),
    stopMs: z.number().min(0),
    syncMs: z.number().min(0),
    startMs: z.number().min(0),
    downtimeMs: z.number().min(0),
    finishedAt: z.string().datetime(),
  })
  .strict();

/**
 * Owner -> the host holding the replica: "pull this module to you now by a planned switchover"
 * (`vmmirror failover` run on the owner). Exactly one side drives a switchover: the receiver of
 * this request checks, then runs it as its own (the HandoverRequest back to the owner). A
 * refusal is an answer, not an error, so the checks reach the operator: `figures` is null then
 * (and with `whatIf`, where nothing moves).
 */
export const SwitchoverAsk = defineRequest(
  'switchover.ask',
  z.object({ module: ModuleName, epoch: Epoch, whatIf: z.boolean() }).strict(),
  z.object({ checks: z.array(SwitchoverCheckWire).max(16), figures: SwitchoverFiguresWire.nullable() }).strict(),
);

/** P -> S: send me your manifest of one file on this stream (P issued the nonce). */
export const ManifestFetch = defineRequest(
  'manifest.fetch',
  z.object({ module: ModuleName, name: z.string().min(1).max(255), streamId: StreamId }).strict(),
  z.object({ generation: z.number().int().min(0), manifestDigest: Digest }).strict(),
);

/** Stream metadata: what a stream carries, so the receiver routes it to the waiting party. */
export const StreamMeta = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('delta'), module: ModuleName }).strict(),
  z.object({ kind: z.literal('manifest'), module: ModuleName, name: z.string().min(1).max(255) }).strict(),
]);
export type StreamMeta = z.infer<typeof StreamMeta>;

// --- the exported VM configuration (docs/cluster.md "Registering the replica") ---------------

/** Bounds of one exported configuration on the wire: Hyper-V's is a .vmcx, a .vmgs (about 4 MiB) and a .vmrs. */
export const VM_CONFIG_LIMITS = { partBytes: 512 * 1024, fileBytes: 16 * 1024 * 1024, totalBytes: 32 * 1024 * 1024, files: 8 } as const;
const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);

/**
 * Runner -> holder of the replica: the next bytes of one file of an exported configuration
 * (`file` is its index in the commit's list). Parts of a file arrive in order; the receiver
 * writes them under a name it makes from the index, never from anything sent. Gated like the
 * commit (owner at the epoch the receiver holds the replica under) before anything is written,
 * so a stale peer can neither discard a transfer in flight nor fill the receiver's disk.
 */
export const VmConfigPart = defineRequest(
  'vmconfig.part',
  z.object({ module: ModuleName, epoch: Epoch, transfer: StreamId, file: z.number().int().min(0).max(VM_CONFIG_LIMITS.files - 1), offset: z.number().int().min(0).max(VM_CONFIG_LIMITS.fileBytes), data: z.string().max(Math.ceil(VM_CONFIG_LIMITS.partBytes / 3) * 4).regex(/^[A-Za-z0-9+/]*={0,2}$/) }).strict(),
  z.object({ received: z.number().int().min(0) }).strict(),
);

/** One adapter of the exported VM: the MAC the replica is pinned to (all zeros: never started, not pinned). */
export const VmConfigAdapter = z.object({ name: z.string().max(255), macAddress: z.string().regex(/^[0-9A-F]{12}$/), dynamicMac: z.boolean() }).strict();

/**
 * Runner -> holder of the replica: the transfer is complete; store it as the module's exported
 * configuration. `disks` names the module's configured disks in the VM's order (the receiver maps
 * each to its own copy); `files` are relative names the receiver checks against a strict pattern.
 * Accepted only from the owner at the epoch the receiver holds the replica under.
 */
export const VmConfigCommit = defineRequest(
  'vmconfig.commit',
  z
    .object({
      module: ModuleName,
      epoch: Epoch,
      transfer: StreamId,
      vmId: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
      configHash: Sha256,
      disks: z.array(z.string().min(1).max(255)).min(1).max(64),
      adapters: z.array(VmConfigAdapter).max(64),
      files: z.array(z.object({ name: z.string().min(1).max(255), size: z.number().int().min(0).max(VM_CONFIG_LIMITS.fileBytes), sha256: Sha256 }).strict()).min(1).max(VM_CONFIG_LIMITS.files),
    })
    .strict(),
  z.object({ configHash: Sha256 }).strict(),
);
