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

const HeartbeatBody = z.object({ host: z.string().max(63), sentAt: z.string().datetime(), modules: z.array(ModuleSummary).max(10_000) }).strict();

/** Agent heartbeat: liveness plus each side's module view (the cluster issue adds votes and leases). */
export const AgentHeartbeat = defineRequest('agent.heartbeat', HeartbeatBody, HeartbeatBody);

/** Disks the primary will send this cycle (names only select among the secondary's configured targets). */
const DiskAnnouncement = z.object({ name: z.string().min(1).max(255), sizeBytes: z.number().int().min(0).max(64 * 2 ** 40) }).strict();

/** P -> S: start a cycle. S answers with a fresh stream nonce and the state it holds (it is the authority, DESIGN I2). */
export const CycleBegin = defineRequest(
  'cycle.begin',
  z.object({ module: ModuleName, disks: z.array(DiskAnnouncement).min(1).max(64), blockSize: z.number().int().positive() }).strict(),
  z.object({ streamId: StreamId, generation: z.number().int().min(0), takenAt: z.string().datetime().nullable(), files: z.array(ReplicaFileInfo).max(64) }).strict(),
);

/** P -> S: wait for the outcome of the stream just sent (journal, verify, commit, apply). */
export const CycleResult = defineRequest(
  'cycle.result',
  z.object({ module: ModuleName, streamId: StreamId }).strict(),
  z.object({ generation: z.number().int().min(0), bytes: z.number().int().min(0), blocks: z.number().int().min(0), files: z.array(ReplicaFileInfo).max(64) }).strict(),
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
