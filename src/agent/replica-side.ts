import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import type { z } from 'zod';
import type { LoadedConfig, ResolvedModule } from '../config';
import { PeerError, ReplicationError, VmmirrorError } from '../errors';
import { componentLogger, type Logger } from '../log';
import type { PeerConnection } from '../peer';
import { ReplicaStore } from '../replication';
import type { ReplicaTarget } from '../replication';
import type { CycleBegin, CycleResult, ManifestFetch } from './messages';
import { readTargets, replicaTargets, writeTargets } from './replica-targets';
import { PendingResults } from './pending-results';
import { decideRole } from './role';

export { replicaTargets } from './replica-targets';

// The secondary's half of a cycle: answers cycle.begin with a nonce and the state it holds, receives
// the delta stream into the module's ReplicaStore (journal, verify, commit, apply), and reports the
// outcome. Paths and sizes come from this host's own module config (DESIGN I4).

const defaultLog = componentLogger('agent.replica');
/** How long an applied stream's outcome waits for its cycle.result (the primary asks right after the stream ends). */
const RESULT_TTL_MS = 10 * 60_000;

type BeginBody = z.output<typeof CycleBegin.body>;
type BeginReply = z.input<typeof CycleBegin.reply>;

interface OpenStore {
  store: ReplicaStore;
  targetsKey: string;
}

/** Replica state directory of a module on this host. */
export function replicaStateDir(config: LoadedConfig, module: string): string {
  return join(config.dataDir, 'state', module, 'replica');
}

export interface ReplicaSideOptions {
  log?: Logger;
  /** How long an outcome nobody asked for is kept (default 10 minutes). */
  resultTtlMs?: number;
}

/** Why a module's replica could not be opened (shown as its LastError in status). */
export interface ReplicaFailure {
  code: string;
  message: string;
  at: Date;
}

export class ReplicaSide {
  private readonly stores = new Map<string, OpenStore>();
  private readonly expected = new Map<string, { module: string; conn: PeerConnection }>();
  private readonly results: PendingResults;
  private readonly busy = new Set<string>();
  /** A cycle.begin's preparation (open, check, rehash) per module: a second begin joins it instead of rehashing again. */
  private readonly preparing = new Map<string, { key: string; done: Promise<ReplicaStore> }>();
  private readonly failures = new Map<string, ReplicaFailure>();
  private readonly log: Logger;

  constructor(
    private readonly config: LoadedConfig,
    options: ReplicaSideOptions = {},
  ) {
    this.log = options.log ?? defaultLog;
    this.results = new PendingResults(options.resultTtlMs ?? RESULT_TTL_MS, this.log);
  }

  private module(name: string): ResolvedModule {
    const m = this.config.modules.find((x) => x.name === name);
    if (m === undefined) throw new ReplicationError('STREAM_WRONG_TARGET', `no module named ${name} on ${this.config.self.Name}`);
    if (decideRole({ selfName: this.config.self.Name, module: m }) !== 'secondary') {
      throw new ReplicationError('STREAM_WRONG_TARGET', `${this.config.self.Name} is not the secondary of module ${name}`);
    }
    return m;
  }

  /** Opens (recovering) each replica that received a cycle before, so a crash is repaired at start and status shows its generation. */
  async openKnown(): Promise<void> {
    for (const m of this.config.modules) {
      if (decideRole({ selfName: this.config.self.Name, module: m }) !== 'secondary') continue;
      try {
        const targets = await readTargets(this.config, m.name);
        if (targets === null) continue;
        await this.storeFor(m, targets);
      } catch (err) {
        const e = err instanceof VmmirrorError ? err : new ReplicationError('IO_ERROR', `module ${m.name}: ${(err as Error).message}`, { cause: err });
        this.failures.set(m.name, { code: e.code, message: e.message, at: new Date() });
        this.log.error({ module: m.name, code: e.code, err }, 'replica not opened at start; the next cycle.begin tries again');
      }
    }
  }

  /** Modules whose replica could not be opened (cleared when a cycle.begin opens it). */
  openFailures(): Map<string, ReplicaFailure> {
    return new Map(this.failures);
  }

  /** Outcomes kept for a cycle.result (bounded: one per module, and each for at most the TTL). */
  get pendingResults(): number {
    return this.results.size;
  }

  private async storeFor(m: ResolvedModule, targets: ReplicaTarget[]): Promise<ReplicaStore> {
    const key = JSON.stringify(targets);
    const open = this.stores.get(m.name);
    if (open !== undefined && open.targetsKey === key) return open.store;
    if (open !== undefined) {
      this.stores.delete(m.name);
      await open.store.close();
    }
    await writeTargets(this.config, m.name, targets);
    for (const t of targets) await mkdir(dirname(t.path), { recursive: true });
    const store = await ReplicaStore.open({ stateDir: replicaStateDir(this.config, m.name), module: m.name, targets, blockSize: m.replication.blockSize });
    if (store.recovery.action !== 'none') this.log.warn({ module: m.name, recovery: store.recovery }, 'replica recovered at open');
    this.stores.set(m.name, { store, targetsKey: key });
    return store;
  }

  /** cycle.begin: a fresh nonce and what this replica holds. Refuses a second cycle of the same module. */
  async begin(body: BeginBody, conn: PeerConnection): Promise<BeginReply> {
    const m = this.module(body.module);
    if (body.blockSize !== m.replication.blockSize) {
      throw new ReplicationError('CONFIG_INVALID', `module ${m.name}: BlockSize differs between the hosts (primary ${body.blockSize}, here ${m.replication.blockSize})`);
    }
    if (this.busy.has(m.name)) throw new ReplicationError('REPLICA_LOCKED', `module ${m.name}: a cycle is already being received`);
    const targets = replicaTargets(this.config, m, body.disks);
    // A nonce issued by an earlier begin is void from now on: no stream may land during a rehash.
    for (const [id, e] of this.expected) if (e.module === m.name) this.expected.delete(id);
    const store = await this.prepare(m, targets);
    this.failures.delete(m.name);
    const streamId = conn.issueStreamId();
    this.expected.set(streamId, { module: m.name, conn });
    const s = store.state();
    const c = await store.cycleState();
    return { streamId, generation: c.generation, takenAt: s.TakenAt, files: c.files };
  }

  // Opens the store and rehashes what was written behind our back, once per module at a time. A
  // rehash of a large replica can outlast the primary's 60 s cycle.begin timeout; the primary's
  // next begin then waits for the same rehash instead of starting a second one into the same files.
  private async prepare(m: ResolvedModule, targets: ReplicaTarget[]): Promise<ReplicaStore> {
    const key = JSON.stringify(targets);
    const running = this.preparing.get(m.name);
    if (running !== undefined) {
      this.log.info({ module: m.name }, 'cycle.begin waits for the preparation already running');
      const store = await running.done.catch(() => null);
      if (store !== null && running.key === key) return store;
      return this.prepare(m, targets);
    }
    const done = (async () => {
      const store = await this.storeFor(m, targets);
      // A replica written behind our back (its VM started by hand, a file edited or resized) no longer
      // matches its manifest: rebuild the manifest from the files. Its digest changes, so the primary
      // refetches it and scans instead of trusting change tracking (DESIGN I2).
      const touched = await store.changedBehindOurBack();
      if (touched.length > 0) {
        this.log.warn({ module: m.name, files: touched }, 'replica was written outside vmmirror; rehashing it');
        await store.rehash(touched);
      }
      return store;
    })();
    const entry = { key, done };
    this.preparing.set(m.name, entry);
    try {
      return await done;
    } finally {
      if (this.preparing.get(m.name) === entry) this.preparing.delete(m.name);
    }
  }

  /** A delta stream arrived: journal it into the module's store (only for a nonce this side issued). */
  acceptDelta(streamId: string, module: string, readable: Readable): void {
    const e = this.expected.get(streamId);
    if (e === undefined || e.module !== module) {
      this.log.warn({ streamId, module }, 'delta stream refused: not the nonce issued for this module');
      readable.destroy(new ReplicationError('STREAM_REPLAYED', 'stream id was not issued for this module'));
      return;
    }
    this.expected.delete(streamId);
    const open = this.stores.get(module);
    if (open === undefined) {
      readable.destroy(new ReplicationError('STREAM_WRONG_TARGET', `module ${module} has no open replica`));
      return;
    }
    this.busy.add(module);
    // The engine stops reading at the trailer; the link wants the stream read to its end, or it
    // tells the sender the receiver gave up. A pass-through keeps back-pressure and lets us drain.
    const feed = new PassThrough({ highWaterMark: 1 << 20 });
    readable.pipe(feed);
    readable.once('error', (err) => feed.destroy(err));
    const t0 = performance.now();
    let firstByte = 0;
    let lastByte = 0;
    readable.once('data', () => (firstByte = performance.now()));
    feed.once('end', () => (lastByte = performance.now()));
    const result = open.store.receive(feed, { expectedStreamId: streamId }).finally(() => this.busy.delete(module));
    void result.then(() => this.log.debug({ module, streamId, firstByteMs: Math.round(firstByte - t0), streamEndMs: Math.round(lastByte - t0), receiveMs: Math.round(performance.now() - t0) }, 'delta received and applied'), () => undefined);
    result.then(
      () => {
        readable.unpipe(feed);
        readable.resume();
      },
      (err: unknown) => {
        readable.destroy();
        this.log.warn({ module, streamId, err }, 'delta stream not applied; replica stays on its generation');
      },
    );
    this.results.add(streamId, module, result);
  }

  /** cycle.result: waits for the apply of that stream and reports the new generation. */
  async result(body: z.output<typeof CycleResult.body>): Promise<z.input<typeof CycleResult.reply>> {
    const pending = this.results.get(body.streamId, body.module);
    if (pending === undefined) throw new PeerError('PEER_PROTOCOL', `no stream ${body.streamId} of module ${body.module} was received`);
    try {
      const a = await pending;
      return { generation: a.generation, bytes: a.bytes, blocks: a.blocks, files: a.files.map((f) => ({ name: f.name, size: f.size, manifestDigest: f.manifestDigest })) };
    } finally {
      this.results.delete(body.streamId);
    }
  }

  /** manifest.fetch: sends this replica's manifest of one file on the requester's nonce. */
  async sendManifest(body: z.output<typeof ManifestFetch.body>, conn: PeerConnection): Promise<z.input<typeof ManifestFetch.reply>> {
    const m = this.module(body.module);
    const open = this.stores.get(m.name);
    if (open === undefined) throw new ReplicationError('STREAM_WRONG_TARGET', `module ${m.name} has no open replica`);
    const c = await open.store.cycleState();
    const f = c.files.find((x) => x.name === body.name);
    if (f === undefined) throw new ReplicationError('STREAM_WRONG_TARGET', `module ${m.name} has no replica file ${body.name}`);
    void conn.sendStream(body.streamId, open.store.manifestStream(body.name), { meta: { kind: 'manifest', module: m.name, name: body.name } }).catch((err: unknown) => {
      this.log.warn({ module: m.name, err }, 'manifest stream failed');
    });
    return { generation: c.generation, manifestDigest: f.manifestDigest };
  }

  /** Generation and time of each replica this host holds (for heartbeats and status). */
  summaries(): Map<string, { generation: number; takenAt: string | null; appliedAt: string | null }> {
    const out = new Map<string, { generation: number; takenAt: string | null; appliedAt: string | null }>();
    for (const [name, { store }] of this.stores) {
      const s = store.state();
      out.set(name, { generation: s.Generation, takenAt: s.TakenAt, appliedAt: s.AppliedAt });
    }
    return out;
  }

  /** Waits for applies in progress (bounded by the caller), then releases every replica lock. */
  async close(): Promise<void> {
    await Promise.allSettled(this.results.all());
    for (const { store } of this.stores.values()) await store.close().catch(() => undefined);
    this.stores.clear();
  }
}
