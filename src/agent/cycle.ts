import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import { fileName, type LoadedConfig, type ResolvedModule } from '../config';
import { HypervisorError, ReplicationError, VmmirrorError, hasCode } from '../errors';
import type { FrozenView, Hypervisor, VmId } from '../hypervisor/types';
import type { Logger } from '../log';
import type { PeerConnection } from '../peer';
import { SenderCache, createDelta, type DeltaSource } from '../replication';
import type { ChangeDetection, CycleReport } from './cycle-report';
import { CycleBegin, CycleResult } from './messages';
import { readReferences, writeReferences } from './references';
import { manifestFetcher } from './sender-cache';
import type { StreamRouter } from './stream-router';
import type { ViewKeeper } from './views';

// The primary's half of a cycle (DESIGN section 4): freeze, ask S what it holds, pick changed
// ranges or scan, stream the delta, wait for S's apply, then release the view (commit only after
// the acknowledgement, so the next reference point never runs ahead of the replica).

export interface CycleDeps {
  config: LoadedConfig;
  hypervisor: Hypervisor;
  /** The live peer connection to send on (rejects PEER_UNREACHABLE). */
  connection(): Promise<PeerConnection>;
  router: StreamRouter;
  /** Freezes, and releases views a failed release left open (before the VM's next freeze). */
  views: ViewKeeper;
  log: Logger;
}

/** Primary-side state folder of a module (references, manifest cache). */
export function senderStateDir(config: LoadedConfig, module: string): string {
  return join(config.dataDir, 'state', module, 'sender');
}

function pathKey(p: string): string {
  return p.replace(/\\/g, '/').toLowerCase();
}

/** The VM of a module: by GUID when configured, else the one VM with exactly that name. */
export async function resolveVm(hv: Hypervisor, m: ResolvedModule): Promise<VmId> {
  if (m.vmId !== undefined) {
    const vm = await hv.getVm(m.vmId);
    if (vm === null) throw new HypervisorError('VM_NOT_FOUND', `module ${m.name}: no VM with id ${m.vmId}`);
    return vm.id;
  }
  const vms = await hv.findVmsByName(m.vmName);
  if (vms.length === 0) throw new HypervisorError('VM_NOT_FOUND', `module ${m.name}: no VM named ${JSON.stringify(m.vmName)}`);
  if (vms.length > 1) throw new HypervisorError('VM_AMBIGUOUS', `module ${m.name}: ${vms.length} VMs are named ${JSON.stringify(m.vmName)}; set VmId in the module file`, { details: { VmIds: vms.map((v) => v.id) } });
  return vms[0]!.id;
}

/** Which frozen disk is which configured disk (by base path); Disks "auto" takes them all. */
function sourcesFor(m: ResolvedModule, view: FrozenView): Array<DeltaSource & { basePath: string }> {
  if (m.disks === 'auto') return view.disks.map((d) => ({ name: fileName(d.basePath), path: d.readPath, mode: 'auto' as const, basePath: d.basePath }));
  return m.disks.map((d) => {
    const frozen = view.disks.find((v) => pathKey(v.basePath) === pathKey(d.path));
    if (frozen === undefined) throw new ReplicationError('CONFIG_INVALID', `module ${m.name}: disk ${d.path} is not attached to the VM (it has ${view.disks.map((v) => v.basePath).join(', ')})`);
    return { name: d.name, path: frozen.readPath, mode: 'auto' as const, basePath: frozen.basePath };
  });
}

/** Runs one cycle for a module this host is primary of; throws a typed error on failure (the replica stays on its generation). */
export async function runCycle(deps: CycleDeps, m: ResolvedModule, signal: AbortSignal): Promise<CycleReport> {
  const startedAt = new Date();
  // Per-phase durations (debug log at the end) show where a cycle's time goes.
  const phases: Record<string, number> = {};
  let mark = performance.now();
  const lap = (name: string): void => {
    const now = performance.now();
    phases[name] = Math.round(now - mark);
    mark = now;
  };
  const timeoutMs = deps.config.agent.CycleTimeoutSeconds * 1000;
  const stateDir = senderStateDir(deps.config, m.name);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const conn = await deps.connection();
  const vmId = await resolveVm(deps.hypervisor, m);
  signal.throwIfAborted();
  lap('resolve');
  const view = await deps.views.freeze(vmId, 120_000);
  lap('freeze');
  let committed = false;
  let closeManifests: () => Promise<void> = async () => undefined;
  try {
    const sources = sourcesFor(m, view);
    const disks = await Promise.all(sources.map(async (s) => ({ name: s.name, sizeBytes: (await stat(s.path)).size })));
    const begin = await conn.request(CycleBegin, { module: m.name, disks, blockSize: m.replication.blockSize }, { timeoutMs: 60_000 });
    lap('begin');
    signal.throwIfAborted();
    if (begin.files.map((f) => f.name).join('\n') !== sources.map((s) => s.name).join('\n')) {
      throw new ReplicationError('STREAM_WRONG_TARGET', `module ${m.name}: the secondary holds [${begin.files.map((f) => f.name).join(', ')}], this host sends [${sources.map((s) => s.name).join(', ')}]`);
    }
    const cache = await SenderCache.open(join(stateDir, 'manifests'));
    const fetcher = manifestFetcher({ conn, router: deps.router, module: m.name, digests: new Map(begin.files.map((f) => [f.name, f.manifestDigest])), timeoutMs: 60_000 });
    const { manifests } = await cache.reconcile(begin.files, m.replication.blockSize, fetcher.fetch);
    closeManifests = async () => {
      for (const mf of manifests.values()) await mf?.close();
    };
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
        const ranges = await deps.hypervisor.changedRanges(vmId, view, refs.references, { timeoutMs: 120_000 });
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
    const onAbort = (): void => void delta.stream.destroy(new VmmirrorError('CANCELLED', 'cycle aborted (agent stopping)'));
    signal.addEventListener('abort', onAbort, { once: true });
    let sent: { bytes: number; wireBytes?: number };
    try {
      sent = await conn.sendStream(begin.streamId, delta.stream, { compression: m.replication.compression, meta: { kind: 'delta', module: m.name } });
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    lap('stream');
    const report = await delta.report;
    signal.throwIfAborted();
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
      ack = await conn.request(CycleResult, { module: m.name, streamId: begin.streamId }, { timeoutMs });
    } finally {
      // Never leave the cache being written when the cycle ends (the next one reads it).
      await advancing;
    }
    lap('ack');
    if (ack.generation !== begin.generation + 1) {
      throw new ReplicationError('STREAM_WRONG_GENERATION', `module ${m.name}: secondary applied generation ${ack.generation}, expected ${begin.generation + 1}`);
    }
    for (const f of report.files) {
      const a = ack.files.find((x) => x.name === f.name);
      if (a?.manifestDigest !== f.manifestDigest) throw new ReplicationError('MANIFEST_MISMATCH', `module ${m.name}: secondary's manifest of ${f.name} differs from what was sent`);
    }
    // S holds the new generation: only now may the frozen point become the next reference.
    const references = await view.release({ commit: true });
    committed = true;
    lap('release');
    await writeReferences(stateDir, { generation: ack.generation, manifestDigests: Object.fromEntries(ack.files.map((f) => [f.name, f.manifestDigest])), references });
    await deps.hypervisor.pruneReferences(vmId, references).catch((err: unknown) => deps.log.warn({ module: m.name, err }, 'pruning old reference points failed'));
    lap('references');
    const finishedAt = new Date();
    deps.log.debug({ module: m.name, phases }, 'cycle phases (ms)');
    return {
      module: m.name,
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
    if (!committed) await deps.views.abandon(view, m.name);
  }
}
