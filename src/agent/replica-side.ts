import type { Readable } from 'node:stream';
import type { z } from 'zod';
import type { LoadedConfig, ResolvedModule } from '../config';
import { PeerError, ReplicationError, VmmirrorError } from '../errors';
import { componentLogger, type Logger } from '../log';
import type { PeerConnection } from '../peer';
import type { CycleBegin, CycleResult, ManifestFetch } from './messages';
import { receiveGated } from './replica-feed';
import { ReplicaStores } from './replica-stores';
import { readTargets, replicaTargets, type LocalVmDisks } from './replica-targets';
import { PendingResults } from './pending-results';

export { replicaTargets } from './replica-targets';
export { replicaStateDir } from './replica-stores';

// The receiving half of a cycle, on whichever host does not run the module's VM now: answers
// cycle.begin with a nonce and the state it holds, receives the delta stream into the module's
// ReplicaStore (journal, verify, commit, apply), and reports the outcome. Paths and sizes come
// from this host's own module config and VM (DESIGN I4); whether this host may receive a module
// at an epoch is the cluster layer's answer (`gate`), asked at the begin, on every chunk of the
// stream, and at the result (DESIGN C2).

const defaultLog = componentLogger('agent.replica');
/** How long an applied stream's outcome waits for its cycle.result (the sender asks right after the stream ends). */
const RESULT_TTL_MS = 10 * 60_000;

type BeginBody = z.output<typeof CycleBegin.body>;
type BeginReply = z.input<typeof CycleBegin.reply>;

export interface ReplicaSideOptions {
  log?: Logger;
  /** How long an outcome nobody asked for is kept (default 10 minutes). */
  resultTtlMs?: number;
  /** Throws a coded error (STALE_EPOCH, MODULE_NOT_SECONDARY) when this host must not receive `module` at `epoch`. */
  gate(module: string, epoch: number): void;
  /** This host's VM disks of a module (names and bounds for Disks "auto" and disks without MaxBytes); null when not registered. */
  localVmDisks: LocalVmDisks;
  /** A stream's apply succeeded: the replica holds `generation`, received under `epoch`. */
  onApplied?(module: string, epoch: number, generation: number): void;
}

/** Why a module's replica could not be opened (shown as its LastError in status). */
export interface ReplicaFailure {
  code: string;
  message: string;
  at: Date;
}

export class ReplicaSide {
  private readonly stores: ReplicaStores;
  private readonly expected = new Map<string, { module: string; epoch: number }>();
  private readonly results: PendingResults;
  /** The receive in flight per module (journal, commit, apply); release() waits for it. */
  private readonly receiving = new Map<string, Promise<unknown>>();
  private readonly failures = new Map<string, ReplicaFailure>();
  private readonly log: Logger;

  constructor(
    private readonly config: LoadedConfig,
    private readonly options: ReplicaSideOptions,
  ) {
    this.log = options.log ?? defaultLog;
    this.stores = new ReplicaStores(config, this.log);
    this.results = new PendingResults(options.resultTtlMs ?? RESULT_TTL_MS, this.log);
  }

  private module(name: string): ResolvedModule {
    const m = this.config.modules.find((x) => x.name === name);
    if (m === undefined) throw new ReplicationError('STREAM_WRONG_TARGET', `no module named ${name} on ${this.config.self.Name}`);
    return m;
  }

  /** Opens (recovering) every replica that received a cycle before, whatever the role: finishing a committed journal is always right. */
  async openKnown(): Promise<void> {
    for (const m of this.config.modules) {
      try {
        await this.stores.serial(m.name, async () => {
          const targets = await readTargets(this.config, m.name, this.options.localVmDisks);
          if (targets !== null) await this.stores.openWith(m, targets);
        });
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

  /** The generation this host's copy of `module` holds (kept after release); null when never opened. */
  generationOf(module: string): number | null {
    return this.stores.generationOf(module);
  }

  /** cycle.begin: a fresh nonce and what this replica holds. Refuses a second cycle of the same module. */
  async begin(body: BeginBody, conn: PeerConnection): Promise<BeginReply> {
    const m = this.module(body.module);
    this.options.gate(m.name, body.epoch);
    if (body.blockSize !== m.replication.blockSize) {
      throw new ReplicationError('CONFIG_INVALID', `module ${m.name}: BlockSize differs between the hosts (sender ${body.blockSize}, here ${m.replication.blockSize})`);
    }
    if (this.receiving.has(m.name)) throw new ReplicationError('REPLICA_LOCKED', `module ${m.name}: a cycle is already being received`);
    // Every name and bound from here, checked against the announcement before anything is written.
    const targets = replicaTargets(m, await this.options.localVmDisks(m.name), body.disks);
    // A nonce issued by an earlier begin is void from now on: no stream may land during a rehash.
    this.voidNonces(m.name);
    const store = await this.stores.prepare(m, targets);
    // The cluster may have moved on while the store opened (a takeover's release): ask again.
    this.options.gate(m.name, body.epoch);
    this.failures.delete(m.name);
    const streamId = conn.issueStreamId();
    this.expected.set(streamId, { module: m.name, epoch: body.epoch });
    const s = store.state();
    const c = await store.cycleState();
    return { streamId, epoch: body.epoch, generation: c.generation, takenAt: s.TakenAt, files: c.files };
  }

  private voidNonces(module: string): void {
    for (const [id, e] of this.expected) if (e.module === module) this.expected.delete(id);
  }

  /** A delta stream arrived: journal it into the module's store (only for a nonce this side issued, at an epoch the gate allows). */
  acceptDelta(streamId: string, module: string, readable: Readable): void {
    const e = this.expected.get(streamId);
    if (e === undefined || e.module !== module) {
      this.log.warn({ streamId, module }, 'delta stream refused: not the nonce issued for this module');
      readable.destroy(new ReplicationError('STREAM_REPLAYED', 'stream id was not issued for this module'));
      return;
    }
    this.expected.delete(streamId);
    const store = this.stores.get(module);
    if (store === undefined) {
      readable.destroy(new ReplicationError('STREAM_WRONG_TARGET', `module ${module} has no open replica`));
      return;
    }
    try {
      this.options.gate(module, e.epoch);
    } catch (err) {
      this.log.warn({ module, streamId, epoch: e.epoch, err }, 'delta stream refused by the cluster state');
      readable.destroy(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    const result = receiveGated({ store, streamId, readable, log: this.log, module, gate: () => this.options.gate(module, e.epoch) });
    const settled = result.then(
      (a) => {
        this.stores.noteGeneration(module, a.generation);
        this.options.onApplied?.(module, e.epoch, a.generation);
      },
      () => undefined,
    );
    this.receiving.set(module, settled);
    void settled.then(() => {
      if (this.receiving.get(module) === settled) this.receiving.delete(module);
    });
    this.results.add(streamId, module, e.epoch, result);
  }

  /** cycle.result: waits for the apply of that stream and reports the new generation under the cycle's epoch. */
  async result(body: z.output<typeof CycleResult.body>): Promise<z.input<typeof CycleResult.reply>> {
    const pending = this.results.get(body.streamId, body.module);
    if (pending === undefined) throw new PeerError('PEER_PROTOCOL', `no stream ${body.streamId} of module ${body.module} was received`);
    try {
      const a = await pending.result;
      // Applied, but if this host moved on meanwhile (it took the module over), the sender must not
      // treat the acknowledgement as current: it keeps its view uncommitted and scans next time.
      this.options.gate(body.module, pending.epoch);
      return { epoch: pending.epoch, generation: a.generation, bytes: a.bytes, blocks: a.blocks, files: a.files.map((f) => ({ name: f.name, size: f.size, manifestDigest: f.manifestDigest })) };
    } finally {
      this.results.delete(body.streamId);
    }
  }

  /**
   * A takeover's "finish any committed journal": waits for the module's receive in flight to end
   * (it ends by its own outcome: the gate refuses its next chunk once the cluster moved on), then
   * opens the store if it is not open (recovery applies a committed journal, discards an
   * uncommitted one) and closes it, so nothing of ours writes the files while the VM runs on them.
   * A later cycle.begin (through the gate) opens it again.
   */
  async release(module: string): Promise<{ generation: number }> {
    const m = this.module(module);
    this.voidNonces(m.name);
    await this.receiving.get(m.name);
    return this.stores.serial(m.name, async () => {
      this.voidNonces(m.name);
      if (this.stores.get(m.name) === undefined) {
        const targets = await readTargets(this.config, m.name, this.options.localVmDisks);
        if (targets === null) return { generation: this.stores.generationOf(m.name) ?? 0 };
        await this.stores.openWith(m, targets);
      }
      const generation = (await this.stores.closeOne(m.name)) ?? 0;
      this.log.info({ module: m.name, generation }, 'replica released: its files are the VM\'s now');
      return { generation };
    });
  }

  /** manifest.fetch: sends this replica's manifest of one file on the requester's nonce. */
  async sendManifest(body: z.output<typeof ManifestFetch.body>, conn: PeerConnection): Promise<z.input<typeof ManifestFetch.reply>> {
    const m = this.module(body.module);
    const store = this.stores.get(m.name);
    if (store === undefined) throw new ReplicationError('STREAM_WRONG_TARGET', `module ${m.name} has no open replica`);
    const c = await store.cycleState();
    const f = c.files.find((x) => x.name === body.name);
    if (f === undefined) throw new ReplicationError('STREAM_WRONG_TARGET', `module ${m.name} has no replica file ${body.name}`);
    void conn.sendStream(body.streamId, store.manifestStream(body.name), { meta: { kind: 'manifest', module: m.name, name: body.name } }).catch((err: unknown) => {
      this.log.warn({ module: m.name, err }, 'manifest stream failed');
    });
    return { generation: c.generation, manifestDigest: f.manifestDigest };
  }

  /** Generation and time of each replica open on this host (for heartbeats and status). */
  summaries(): Map<string, { generation: number; takenAt: string | null; appliedAt: string | null }> {
    const out = new Map<string, { generation: number; takenAt: string | null; appliedAt: string | null }>();
    for (const [name, store] of this.stores.entries()) {
      const s = store.state();
      out.set(name, { generation: s.Generation, takenAt: s.TakenAt, appliedAt: s.AppliedAt });
    }
    return out;
  }

  /** Waits for applies in progress (bounded by the caller), then releases every replica lock. */
  async close(): Promise<void> {
    await Promise.allSettled(this.results.all());
    await Promise.allSettled([...this.receiving.values()]);
    await this.stores.closeAll();
  }
}
