import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { LoadedConfig, ResolvedModule } from '../config';
import type { Logger } from '../log';
import { ReplicaStore, type ReplicaTarget } from '../replication';
import { unrecordedFiles } from './replica-feed';
import { writeTargets } from './replica-targets';

// The receiving host's open replica stores, one per module, and the one-at-a-time rule for
// opening, preparing and closing each (a cycle.begin's preparation and a takeover's release never
// interleave on one module's files). The protocol around them is ReplicaSide's.

/** Replica state directory of a module on this host. */
export function replicaStateDir(config: LoadedConfig, module: string): string {
  return join(config.dataDir, 'state', module, 'replica');
}

interface OpenStore {
  store: ReplicaStore;
  targetsKey: string;
}

export class ReplicaStores {
  private readonly open = new Map<string, OpenStore>();
  private readonly locks = new Map<string, Promise<unknown>>();
  /** A cycle.begin's preparation per module: a second begin joins it instead of rehashing again. */
  private readonly preparing = new Map<string, { key: string; done: Promise<ReplicaStore> }>();
  private readonly generations = new Map<string, number>();

  constructor(
    private readonly config: LoadedConfig,
    private readonly log: Logger,
  ) {}

  /** The open store of a module, if any. */
  get(module: string): ReplicaStore | undefined {
    return this.open.get(module)?.store;
  }

  entries(): Array<[string, ReplicaStore]> {
    return [...this.open].map(([name, o]) => [name, o.store]);
  }

  /** The generation last seen of a module's copy (kept after close); null when never opened. */
  generationOf(module: string): number | null {
    return this.generations.get(module) ?? null;
  }

  noteGeneration(module: string, generation: number): void {
    this.generations.set(module, generation);
  }

  /** Runs `fn` after every earlier open/close of the module's store has ended. */
  serial<T>(module: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.locks.get(module) ?? Promise.resolve()).then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(module, tail);
    void tail.then(() => {
      if (this.locks.get(module) === tail) this.locks.delete(module);
    });
    return run;
  }

  /** Opens (recovering) the store with `targets`, re-opening it if its targets changed. Call inside serial(). */
  async openWith(m: ResolvedModule, targets: ReplicaTarget[]): Promise<ReplicaStore> {
    const key = JSON.stringify(targets);
    const current = this.open.get(m.name);
    if (current !== undefined && current.targetsKey === key) return current.store;
    if (current !== undefined) {
      this.open.delete(m.name);
      await current.store.close();
    }
    await writeTargets(this.config, m.name, targets);
    for (const t of targets) await mkdir(dirname(t.path), { recursive: true });
    const store = await ReplicaStore.open({ stateDir: replicaStateDir(this.config, m.name), module: m.name, targets, blockSize: m.replication.blockSize });
    if (store.recovery.action !== 'none') this.log.warn({ module: m.name, recovery: store.recovery }, 'replica recovered at open');
    this.open.set(m.name, { store, targetsKey: key });
    this.generations.set(m.name, store.state().Generation);
    return store;
  }

  /** Closes a module's store (call inside serial()); returns the generation it held, or null if none was open. */
  async closeOne(module: string): Promise<number | null> {
    const current = this.open.get(module);
    if (current === undefined) return null;
    this.open.delete(module);
    const generation = current.store.state().Generation;
    await current.store.close();
    this.generations.set(module, generation);
    return generation;
  }

  // Opens the store and rehashes what does not match its manifests, once per module at a time. A
  // rehash of a large replica can outlast the sender's cycle.begin wait; its next begin then waits
  // for the same rehash instead of starting a second one into the same files.
  async prepare(m: ResolvedModule, targets: ReplicaTarget[]): Promise<ReplicaStore> {
    const key = JSON.stringify(targets);
    const running = this.preparing.get(m.name);
    if (running !== undefined) {
      this.log.info({ module: m.name }, 'cycle.begin waits for the preparation already running');
      const store = await running.done.catch(() => null);
      if (store !== null && running.key === key && this.get(m.name) === store) return store;
      return this.prepare(m, targets);
    }
    const done = this.serial(m.name, async () => {
      const store = await this.openWith(m, targets);
      const known = new Set(store.state().Files.map((f) => f.Name));
      // A file this host holds but the store never recorded (this host's own copy, from when it ran
      // the VM) is adopted: hashed, so the first cycle into it sends only what differs. A file
      // written behind our back (its VM started by hand, a file edited or resized) no longer matches
      // its manifest: rehashed too; its digest changes, so the sender refetches it and scans (DESIGN I2).
      const adopted = await unrecordedFiles(store, known);
      const touched = [...adopted, ...(await store.changedBehindOurBack())];
      if (touched.length > 0) {
        this.log.warn({ module: m.name, files: touched, adopted }, 'replica files not matching their manifests; rehashing them');
        await store.rehash(touched);
      }
      return store;
    });
    const entry = { key, done };
    this.preparing.set(m.name, entry);
    try {
      return await done;
    } finally {
      if (this.preparing.get(m.name) === entry) this.preparing.delete(m.name);
    }
  }

  /** Releases every replica lock. */
  async closeAll(): Promise<void> {
    for (const { store } of this.open.values()) await store.close().catch(() => undefined);
    this.open.clear();
  }
}
