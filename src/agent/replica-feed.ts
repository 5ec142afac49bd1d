import { stat } from 'node:fs/promises';
import { PassThrough, Transform, type Readable } from 'node:stream';
import type { Logger } from '../log';
import type { ApplyReport, ReplicaStore } from '../replication';

// How a delta stream from the link reaches a replica store on the receiving host: through the
// cluster's gate on every chunk, so a takeover that happens mid-stream stops the journal at the
// next chunk (the store discards it, the replica stays on its generation). The last chunk carries
// the trailer, after which the store only fsyncs and commits: that is the last point the gate is
// asked before the commit (the store has no hook in between; release() waits for the receive, so
// a takeover never runs the VM while a commit or apply of ours is in flight).

export interface GatedReceive {
  store: ReplicaStore;
  streamId: string;
  readable: Readable;
  module: string;
  log: Logger;
  /** Throws when this host must no longer receive the module at the stream's epoch. */
  gate(): void;
}

/** Receives `readable` into `store` (journal, verify, commit, apply); the gate is asked before each chunk is handed on. */
export function receiveGated(o: GatedReceive): Promise<ApplyReport> {
  const { readable, log, module, streamId } = o;
  const gated = new Transform({
    transform(chunk: Buffer, _enc, done) {
      try {
        o.gate();
        done(null, chunk);
      } catch (err) {
        done(err as Error);
      }
    },
  });
  // The engine stops reading at the trailer; the link wants the stream read to its end, or it
  // tells the sender the receiver gave up. A pass-through keeps back-pressure and lets us drain.
  const feed = new PassThrough({ highWaterMark: 1 << 20 });
  readable.pipe(gated).pipe(feed);
  readable.once('error', (err) => gated.destroy(err));
  gated.once('error', (err) => feed.destroy(err));
  // The store reads the feed only after its own checks: an error before that must not be an
  // unhandled 'error' event. The store's iterator still sees it (the feed is destroyed with it).
  feed.on('error', () => undefined);
  const t0 = performance.now();
  let firstByte = 0;
  let lastByte = 0;
  readable.once('data', () => (firstByte = performance.now()));
  feed.once('end', () => (lastByte = performance.now()));
  const result = o.store.receive(feed, { expectedStreamId: streamId });
  result.then(
    () => {
      log.debug({ module, streamId, firstByteMs: Math.round(firstByte - t0), streamEndMs: Math.round(lastByte - t0), receiveMs: Math.round(performance.now() - t0) }, 'delta received and applied');
      readable.unpipe(gated);
      readable.resume();
    },
    (err: unknown) => {
      readable.destroy();
      log.warn({ module, streamId, err }, 'delta stream not applied; replica stays on its generation');
    },
  );
  return result;
}

/**
 * Target files that exist with content but that the store has no record of: this host's own copy
 * from when it ran the VM, or a copy seeded by hand. Hashing them (adopting) before the first cycle
 * into them makes that cycle send only what differs, not the whole disk.
 */
export async function unrecordedFiles(store: ReplicaStore, recorded: Set<string>): Promise<string[]> {
  const out: string[] = [];
  for (const t of store.targets) {
    if (recorded.has(t.name)) continue;
    const size = await stat(t.path).then((s) => (s.isFile() ? s.size : 0), () => 0);
    if (size > 0) out.push(t.name);
  }
  return out;
}
