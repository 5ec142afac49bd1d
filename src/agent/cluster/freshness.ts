import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { ClusterSnapshot } from '../../cluster';
import type { FreshnessEntry } from '../../cluster/cold-start';
import type { Logger } from '../../log';
import { writeFileDurable } from '../../replication/util/durable-file';
import type { ClusterModuleView, ModuleSummary } from '../messages';

// The freshness record of the cold-start opt-in (src/cluster/cold-start.ts): for each module this
// host holds the replica of, how far that replica was behind the owner's disk at the last heartbeat
// in which the owner, running it at this host's epoch, named this host's generation as its last
// acknowledged one. The age is the owner's `sentAt - takenAt`: two readings of the owner's clock,
// never compared with ours (C4). Only modules that opt in are tracked, so hosts without the opt-in
// write nothing. A missing or damaged file only withholds the opt-in (the module waits, as C3
// says), so it is logged, never fatal.

const MAX_FILE_BYTES = 1024 * 1024;

const FreshnessFile = z
  .object({
    Version: z.literal(1),
    Modules: z.record(
      z.string(),
      z.object({ Epoch: z.number().int().min(0), Generation: z.number().int().min(1), BehindMs: z.number().int().min(0), HeardAt: z.string().datetime() }).strict(),
    ),
  })
  .strict();
type FreshnessFile = z.infer<typeof FreshnessFile>;

/** Beside the module records' folder, not in it: a module may be named anything, even "freshness". */
export function freshnessPath(dataDir: string): string {
  return join(dataDir, 'cold-start-freshness.json');
}

export type FreshnessRecord = FreshnessFile['Modules'];

/** The entries the pure layer reads (src/cluster/cold-start.ts replicaBehindMs pairs each with the module record). */
export function freshnessEntries(r: FreshnessRecord): Record<string, FreshnessEntry> {
  const out: Record<string, FreshnessEntry> = {};
  for (const [name, e] of Object.entries(r)) out[name] = { epoch: e.Epoch, generation: e.Generation, behindMs: e.BehindMs };
  return out;
}

export async function readFreshness(dataDir: string, log: Logger): Promise<FreshnessRecord> {
  const path = freshnessPath(dataDir);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.error({ event: 'freshness-unreadable', code: 'CLUSTER_STATE_INVALID', path, err }, 'cannot read the cold-start freshness record: no module starts alone');
    return {};
  }
  let parsed: ReturnType<typeof FreshnessFile.safeParse> | null = null;
  try {
    if (Buffer.byteLength(text) <= MAX_FILE_BYTES) parsed = FreshnessFile.safeParse(JSON.parse(text));
  } catch {
    parsed = null;
  }
  if (parsed === null || !parsed.success) {
    log.error({ event: 'freshness-damaged', code: 'CLUSTER_STATE_INVALID', path }, 'the cold-start freshness record is damaged: no module starts alone until the peer vouches again');
    return {};
  }
  return parsed.data.Modules;
}

/** What one heartbeat from the owner says of our copy's age, or 'unknown' / 'nothing' (keep the entry). */
export function vouched(
  mine: { state: string; epoch: number; owner: string | null; generation: number },
  peer: string,
  body: { sentAt: string; modules: ModuleSummary[]; cluster?: { modules: Record<string, ClusterModuleView> } },
  name: string,
): number | 'unknown' | 'nothing' {
  if (mine.state !== 'SECOND' || mine.owner !== peer || mine.generation === 0) return 'nothing';
  const view = body.cluster?.modules[name];
  if (view === undefined || view.owner !== peer || view.epoch !== mine.epoch || view.vm !== 'running' || (view.state !== 'PRIM' && view.state !== 'ALONE')) return 'nothing';
  const s = body.modules.find((m) => m.name === name);
  // No figure (the owner restarted and has not finished a cycle since), or our newest generation
  // not yet acknowledged there (a heartbeat between our apply and its ack): nothing new is known,
  // and the entry we have still holds for the generation it names.
  if (s === undefined || s.role !== 'primary' || s.generation === null || s.takenAt === null || s.generation < mine.generation) return 'nothing';
  // The owner counts a generation this host never applied: our copy's age is not known.
  if (s.generation > mine.generation) return 'unknown';
  // A view taken "after" the heartbeat was sent: the owner's wall clock was set back in between,
  // so the real age is not known (clamping it to 0 s would call a stale copy fresh).
  const age = Date.parse(body.sentAt) - Date.parse(s.takenAt);
  return age >= 0 ? age : 'unknown';
}

/** Keeps the freshness record of the opted-in modules up to date as heartbeats arrive; one write in flight, newest content wins. */
export class FreshnessWriter {
  private readonly entries: FreshnessRecord;
  private last = '';
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly dataDir: string,
    private readonly peer: string,
    private readonly modules: readonly string[],
    private readonly log: Logger,
    initial: FreshnessRecord = {},
  ) {
    // Entries of modules not heard of yet this run are kept as they were.
    this.entries = Object.fromEntries(Object.entries(initial).filter(([name]) => modules.includes(name)));
  }

  /** A heartbeat (request or reply) from the peer arrived. */
  heard(s: ClusterSnapshot, body: Parameters<typeof vouched>[2]): void {
    if (this.modules.length === 0) return;
    for (const name of this.modules) {
      const m = s.modules[name];
      if (m === undefined) continue;
      const v = vouched(m, this.peer, body, name);
      if (v === 'nothing') continue;
      if (v === 'unknown') delete this.entries[name];
      else this.entries[name] = { Epoch: m.epoch, Generation: m.generation, BehindMs: v, HeardAt: new Date().toISOString() };
    }
    this.flush();
  }

  private flush(): void {
    const file: FreshnessFile = { Version: 1, Modules: this.entries };
    const text = `${JSON.stringify(file)}\n`;
    if (text === this.last) return;
    this.last = text;
    this.writing = this.writing.then(async () => {
      if (this.last !== text) return; // a newer content is queued behind this one
      await writeFileDurable(freshnessPath(this.dataDir), text).catch((err: unknown) => {
        this.last = '';
        this.log.error({ event: 'freshness-write-failed', err }, 'cannot write the cold-start freshness record');
      });
    });
  }

  /** Resolves when every write asked for so far is durable (tests, stop). */
  drain(): Promise<void> {
    return this.writing;
  }
}
