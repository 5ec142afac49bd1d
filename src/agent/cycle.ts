import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import type { LoadedConfig, ResolvedModule } from '../config';
import { HypervisorError, ReplicationError, VmmirrorError, hasCode } from '../errors';
import type { Hypervisor } from '../hypervisor/types';
import type { Logger } from '../log';
import type { PeerConnection } from '../peer';
import { SenderCache, createDelta } from '../replication';
import { CycleDeadline } from './cycle-deadline';
import { inReceiverOrder, pathKey, resolveVm, sourcesFor } from './cycle-sources';
import type { ChangeDetection, CycleReport } from './cycle-report';
import { CycleBegin, CycleResult } from './messages';
import { readReferences, writeReferences } from './references';
import { manifestFetcher } from './sender-cache';
import type { StreamRouter } from './stream-router';
import { removeViewRecord, writeViewRecord, type ViewKeeper } from './views';

export { readPersistedView, type ViewRecord } from './views';
export { resolveVm } from './cycle-sources';

// The sending half of a cycle (DESIGN section 4), on whichever host runs the module's VM now:
// freeze, ask the receiver what it holds, pick changed ranges or scan, stream the delta, wait for
// the receiver's apply, then release the view (commit only after the acknowledgement, so the next
// reference point never runs ahead of the replica). Every message carries the ownership epoch the
// cycle runs under; a reply at another epoch is STALE_EPOCH. One deadline bounds the whole cycle.

export interface CycleDeps {
  config: LoadedConfig;
  hypervisor: Hypervisor;
  /** The live peer connection to send on, waiting at most `timeoutMs` for one (rejects PEER_UNREACHABLE). */
  connection(timeoutMs: number): Promise<PeerConnection>;
  router: StreamRouter;
  /** Freezes, and releases views a failed release left open (before the VM's next freeze). */
  views: ViewKeeper;
  log: Logger;
}

/** Sender-side state folder of a module (references, manifest cache, the frozen view's record). */
export function senderStateDir(config: LoadedConfig, module: string): string {
  return join(config.dataDir, 'state', module, 'sender');
}

function staleEpoch(m: ResolvedModule, what: string, got: number, epoch: number): VmmirrorError {
  return new VmmirrorError('STALE_EPOCH', `module ${m.name}: the receiver answered ${what} at epoch ${got}, this cycle runs at epoch ${epoch}`);
}

/** How long a cycle waits for a connection to the peer: a peer that is down fails the cycle fast, and the next tick retries. */
const CONNECT_WAIT_MS = 5000;

/**
 * Runs one cycle of a module whose VM runs here, at ownership `o.epoch`; throws a typed error on
 * failure (the replica stays on its generation). The whole cycle ends by `CycleTimeoutSeconds`
 * from its start (CYCLE_TIMEOUT) or when `o.signal` aborts; then the stream is destroyed and the
 * frozen view released without commit.
 */
export async function runCycle(deps: CycleDeps, m: ResolvedModule, o: { epoch: number; signal: AbortSignal }): Promise<CycleReport> {
  const deadline = new CycleDeadline(deps.config.agent.CycleTimeoutSeconds * 1000, o.signal, `module ${m.name}`);
  try {
    return await cycleWithin(deps, m, o.epoch, deadline);
  } finally {
    deadline.dispose();
  }
}

async function cycleWithin(deps: CycleDeps, m: ResolvedModule, epoch: number, deadline: CycleDeadline): Promise<CycleReport> {
  const signal = deadline.signal;
  const startedAt = new Date();
  // Per-phase durations (debug log at the end) show where a cycle's time goes.
  const phases: Record<string, number> = {};
  let mark = performance.now();
  const lap = (name: string): void => {
    const now = performance.now();
    phases[name] = Math.round(now - mark);
    mark = now;
  };
  const stateDir = senderStateDir(deps.config, m.name);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const conn = await deadline.race(deps.connection(Math.min(CONNECT_WAIT_MS, deadline.remaining())));
  const vmId = await deadline.race(resolveVm(deps.hypervisor, m));
  lap('resolve');
  // A view that arrives after the cycle gave up is released at once: nobody else would.
  const view = await deadline.race(deps.views.freeze(vmId, deadline.callTimeout()), (late) => void deps.views.abandon(late, m.name));
  lap('freeze');
  let released = false;
  let closeManifests: () => Promise<void> = async () => undefined;
  try {
    // Recorded before anything is read: an agent killed from here on leaves the view open, and
    // its next start releases it by this id (readPersistedView).
    await writeViewRecord(stateDir, view);
    const frozen = sourcesFor(m, view);
    const disks = await Promise.all(frozen.map(async (s) => ({ name: s.name, sizeBytes: (await stat(s.path)).size })));
    const begin = await deadline.race(conn.request(CycleBegin, { module: m.name, epoch, disks, blockSize: m.replication.blockSize }, { timeoutMs: deadline.callTimeout() }));
    lap('begin');
    if (begin.epoch !== epoch) throw staleEpoch(m, 'cycle.begin', begin.epoch, epoch);
    const sources = inReceiverOrder(m, frozen, begin.files);
    const cache = await SenderCache.open(join(stateDir, 'manifests'));
    const fetcher = manifestFetcher({ conn, router: deps.router, module: m.name, digests: new Map(begin.files.map((f) => [f.name, f.manifestDigest])), timeoutMs: () => deadline.callTimeout(), signal });
    const { manifests } = await cache.reconcile(begin.files, m.replication.blockSize, fetcher.fetch);
    closeManifests = async () => {
      for (const mf of manifests.values()) await mf?.close();
    };
    deadline.check();
    lap('reconcile');

    let detection: ChangeDetection = 'Scan';
    let scanReason: string | null = null;
    let changedRangeBytes: number | null = null;
    let changedRanges: Map<string, Array<{ offset: number; length: number }>> | undefined;
    const refs = await readReferences(stateDir);
    if (begin.generation === 0) scanReason = 'first cycle';
    else if (refs === null || refs.generation !== begin.generation) scanReason = `no reference point for generation ${begin.generation}`;
    else if (begin.files.some((f) => refs.manifestDigests[f.name] !== f.manifestDigest)) scanReason = `the replica's manifests differ from what generation ${begin.generation} had`;
    else {
      try {
        const ranges = await deadline.race(deps.hypervisor.changedRanges(vmId, view, refs.references, { timeoutMs: deadline.callTimeout() }));
        changedRanges = new Map();
        changedRangeBytes = 0;
        for (const s of sources) {
          const r = ranges.find((x) => pathKey(x.basePath) === pathKey(s.basePath));
          if (r === undefined) throw new HypervisorError('RCT_UNAVAILABLE', `no changed ranges for ${s.basePath}`);
          changedRanges.set(s.name, r.ranges);
          changedRangeBytes += r.ranges.reduce((n, x) => n + x.length, 0);
        }
        detection = 'ChangedRanges';
      } catch (err) {
        if (!hasCode(err, 'RCT_UNAVAILABLE')) throw err;
        changedRanges = undefined;
        changedRangeBytes = null;
        scanReason = `change tracking unavailable: ${(err as Error).message}`;
        deps.log.warn({ module: m.name, err }, 'changed ranges unavailable; scanning');
      }
    }

    lap('detect');
    const delta = await createDelta({
      module: m.name,
      streamId: begin.streamId,
      blockSize: m.replication.blockSize,
      sources: sources.map(({ name, path, mode }) => ({ name, path, mode })),
      replica: { generation: begin.generation, manifests },
      sentLog: cache.sentLogPath,
      ...(changedRanges !== undefined ? { changedRanges } : {}),
      takenAt: view.takenAt,
    });
    lap('deltaOpen');
    // Past the deadline, or when the caller aborts, the stream ends: the receiver discards the
    // uncommitted journal and stays on its generation.
    const onAbort = (): void => void delta.stream.destroy(signal.reason instanceof Error ? signal.reason : new VmmirrorError('CANCELLED', 'cycle aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    let sent: { bytes: number; wireBytes?: number };
    try {
      if (signal.aborted) onAbort();
      sent = await deadline.race(conn.sendStream(begin.streamId, delta.stream, { compression: m.replication.compression, meta: { kind: 'delta', module: m.name } }));
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    lap('stream');
    const report = await deadline.race(delta.report);
    // While S journals, fsyncs and applies (hundreds of ms for a large delta), bring P's copy of S's
    // manifests up to the generation the delta produces, so the next cycle needs no fetch. Safe
    // before the acknowledgement: reconcile uses a copy only when its digest equals the one S
    // reports at the next cycle.begin, so if S does not reach this generation the copy is refetched.
    await closeManifests();
    closeManifests = async () => undefined;
    const advancing = cache
      .advance(begin.files.map((f) => {
        const produced = report.files.find((x) => x.name === f.name)!;
        return { name: f.name, fromSize: f.size, toSize: produced.size, blockSize: m.replication.blockSize, manifestDigest: produced.manifestDigest };
      }))
      .catch((err: unknown) => deps.log.warn({ module: m.name, err }, 'manifest cache not advanced; it will be fetched next cycle'));
    let ack: z.output<typeof CycleResult.reply>;
    try {
      ack = await deadline.race(conn.request(CycleResult, { module: m.name, streamId: begin.streamId }, { timeoutMs: deadline.callTimeout() }));
    } finally {
      // Never leave the cache being written when the cycle ends (the next one reads it).
      await advancing;
    }
    lap('ack');
    if (ack.epoch !== epoch) throw staleEpoch(m, 'cycle.result', ack.epoch, epoch);
    if (ack.generation !== begin.generation + 1) {
      throw new ReplicationError('STREAM_WRONG_GENERATION', `module ${m.name}: the receiver applied generation ${ack.generation}, expected ${begin.generation + 1}`);
    }
    for (const f of report.files) {
      const a = ack.files.find((x) => x.name === f.name);
      if (a?.manifestDigest !== f.manifestDigest) throw new ReplicationError('MANIFEST_MISMATCH', `module ${m.name}: the receiver's manifest of ${f.name} differs from what was sent`);
    }
    // S holds the new generation: only now may the frozen point become the next reference.
    const references = await view.release({ commit: true });
    released = true;
    await forgetView(deps, m, stateDir);
    lap('release');
    await writeReferences(stateDir, { generation: ack.generation, manifestDigests: Object.fromEntries(ack.files.map((f) => [f.name, f.manifestDigest])), references });
    await deps.hypervisor.pruneReferences(vmId, references).catch((err: unknown) => deps.log.warn({ module: m.name, err }, 'pruning old reference points failed'));
    lap('references');
    const finishedAt = new Date();
    deps.log.debug({ module: m.name, phases }, 'cycle phases (ms)');
    return {
      module: m.name,
      epoch,
      startedAt,
      finishedAt,
      durationMs: finishedAt.getTime() - startedAt.getTime(),
      fromGeneration: begin.generation,
      toGeneration: ack.generation,
      detection,
      consistency: view.consistency,
      scanReason,
      bytesScanned: report.bytesScanned,
      bytesChanged: report.files.reduce((n, f) => n + f.bytesChanged, 0),
      blocksChanged: report.blocksChanged,
      streamBytes: report.bytesSent,
      wireBytes: sent.wireBytes ?? sent.bytes,
      manifestBytes: fetcher.bytes(),
      compression: m.replication.compression,
      changedRangeBytes,
      takenAt: view.takenAt,
      files: report.files.map((f) => ({ name: f.name, size: f.size, blocksChanged: f.blocksChanged, bytesChanged: f.bytesChanged, manifestDigest: f.manifestDigest })),
    };
  } finally {
    await closeManifests();
    // Kept when the release fails: the view is still open, and the next start must find its id.
    if (!released && (await deps.views.abandon(view, m.name))) await forgetView(deps, m, stateDir);
  }
}

// The view is released: its record goes. Failing to remove it fails nothing (a record naming a
// released view makes the next start release nothing), so it is only logged.
async function forgetView(deps: CycleDeps, m: ResolvedModule, stateDir: string): Promise<void> {
  await removeViewRecord(stateDir).catch((err: unknown) => deps.log.warn({ module: m.name, err }, 'frozen view record not removed'));
}
