import type { Readable } from 'node:stream';
import { PeerError } from '../errors';
import { componentLogger } from '../log';
import type { IncomingStreamInfo } from '../peer';
import { StreamMeta } from './messages';

// Incoming streams go to whoever waits for them: delta streams to the replica side, manifest
// streams to the cycle that asked for them. Anything else is destroyed (the sender sees an abort).

const log = componentLogger('agent.streams');

export class StreamRouter {
  private readonly waiting = new Map<string, (r: Readable) => void>();

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
    w(readable);
  }

  /** Resolves with the stream of that id when it opens (rejects after `timeoutMs`). */
  expect(streamId: string, timeoutMs: number): Promise<Readable> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(streamId);
        reject(new PeerError('PEER_TIMEOUT', `stream ${streamId} did not open within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(streamId, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
    });
  }
}
