import type { Readable } from 'node:stream';
import { PeerError } from '../errors';
import { componentLogger } from '../log';
import type { IncomingStreamInfo } from '../peer';
import { StreamMeta } from './messages';

// Incoming streams go to whoever waits for them: delta streams to the replica side, manifest
// streams to the cycle that asked for them. Anything else is destroyed (the sender sees an abort).

const log = componentLogger('agent.streams');

export class StreamRouter {
  private readonly waiting = new Map<string, { deliver: (r: Readable) => void; fail: (err: Error) => void }>();

  constructor(private readonly onDelta: (streamId: string, module: string, r: Readable) => void) {}

  /** The link's stream handler. */
  handle(streamId: string, readable: Readable, info: IncomingStreamInfo): void {
    const meta = StreamMeta.safeParse(info.meta);
    if (!meta.success) {
      log.warn({ streamId }, 'stream refused: metadata fails its schema');
      readable.destroy(new PeerError('PEER_PROTOCOL', 'stream metadata fails its schema'));
      return;
    }
    if (meta.data.kind === 'delta') {
      this.onDelta(streamId, meta.data.module, readable);
      return;
    }
    const w = this.waiting.get(streamId);
    if (w === undefined) {
      log.warn({ streamId }, 'stream refused: nobody waits for it');
      readable.destroy(new PeerError('PEER_PROTOCOL', 'unexpected stream'));
      return;
    }
    this.waiting.delete(streamId);
    w.deliver(readable);
  }

  /** Resolves with the stream of that id when it opens (rejects after `timeoutMs`, or when cancelled). */
  expect(streamId: string, timeoutMs: number): Promise<Readable> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.cancel(streamId, new PeerError('PEER_TIMEOUT', `stream ${streamId} did not open within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(streamId, {
        deliver: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        fail: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
    });
  }

  /** Nobody waits for that stream any more: its promise rejects, and if it opens later it is destroyed. */
  cancel(streamId: string, reason: Error): void {
    const w = this.waiting.get(streamId);
    if (w === undefined) return;
    this.waiting.delete(streamId);
    w.fail(reason);
  }

  /** Streams awaited now (for tests: a cancelled or timed-out wait leaves nothing behind). */
  get awaited(): number {
    return this.waiting.size;
  }
}
