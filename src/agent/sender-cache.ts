import type { Readable } from 'node:stream';
import { ReplicationError } from '../errors';
import type { PeerConnection } from '../peer';
import { ManifestFetch } from './messages';
import type { StreamRouter } from './stream-router';

// The link side of the engine's SenderCache.reconcile: S streams its manifest of one file on a
// nonce P issued. The engine checks the bytes against the digest S reported (DESIGN I2).

/**
 * A fetch function for SenderCache.reconcile that counts the bytes it brought. `timeoutMs()` is
 * asked at each fetch (the cycle's time left); when `signal` aborts, a stream being read is
 * destroyed, so the reconcile reading it ends with the cycle.
 */
export function manifestFetcher(o: { conn: PeerConnection; router: StreamRouter; module: string; digests: Map<string, string>; timeoutMs: () => number; signal: AbortSignal }): {
  fetch: (name: string) => Promise<Readable>;
  bytes: () => number;
} {
  let total = 0;
  return {
    bytes: () => total,
    async fetch(name) {
      o.signal.throwIfAborted();
      const timeoutMs = o.timeoutMs();
      const streamId = o.conn.issueStreamId();
      const incoming = o.router.expect(streamId, timeoutMs);
      const reason = (): Error => (o.signal.reason instanceof Error ? o.signal.reason : new Error(String(o.signal.reason)));
      let abortWait!: (err: Error) => void;
      const aborted = new Promise<never>((_, reject) => (abortWait = reject));
      aborted.catch(() => undefined);
      const onAbort = (): void => {
        o.router.cancel(streamId, reason());
        abortWait(reason());
      };
      o.signal.addEventListener('abort', onAbort, { once: true });
      try {
        const reply = await Promise.race([o.conn.request(ManifestFetch, { module: o.module, name, streamId }, { timeoutMs }), aborted]);
        if (reply.manifestDigest !== o.digests.get(name)) throw new ReplicationError('MANIFEST_MISMATCH', `module ${o.module}: the replica's manifest of ${name} changed during the cycle`);
        const readable = await incoming;
        o.signal.removeEventListener('abort', onAbort);
        o.signal.throwIfAborted();
        const destroy = (): void => void readable.destroy(reason());
        o.signal.addEventListener('abort', destroy, { once: true });
        readable.once('close', () => o.signal.removeEventListener('abort', destroy));
        readable.on('data', (c: Buffer) => (total += c.length));
        return readable;
      } catch (err) {
        o.signal.removeEventListener('abort', onAbort);
        // Nobody will read this stream: destroy it if it came (the sender sees an abort and closes its
        // file), and refuse it if it comes later. Left alone it would hold S's manifest open until the link drops.
        o.router.cancel(streamId, err instanceof Error ? err : new Error(String(err)));
        incoming.then((r) => r.destroy(), () => undefined);
        throw err;
      }
    },
  };
}
