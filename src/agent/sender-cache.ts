import type { Readable } from 'node:stream';
import { ReplicationError } from '../errors';
import type { PeerConnection } from '../peer';
import { ManifestFetch } from './messages';
import type { StreamRouter } from './stream-router';

// The link side of the engine's SenderCache.reconcile: S streams its manifest of one file on a
// nonce P issued. The engine checks the bytes against the digest S reported (DESIGN I2).

/** A fetch function for SenderCache.reconcile that counts the bytes it brought. */
export function manifestFetcher(o: { conn: PeerConnection; router: StreamRouter; module: string; digests: Map<string, string>; timeoutMs: number }): {
  fetch: (name: string) => Promise<Readable>;
  bytes: () => number;
} {
  let total = 0;
  return {
    bytes: () => total,
    async fetch(name) {
      const streamId = o.conn.issueStreamId();
      const incoming = o.router.expect(streamId, o.timeoutMs);
      try {
        const reply = await o.conn.request(ManifestFetch, { module: o.module, name, streamId }, { timeoutMs: o.timeoutMs });
        if (reply.manifestDigest !== o.digests.get(name)) throw new ReplicationError('MANIFEST_MISMATCH', `module ${o.module}: the replica's manifest of ${name} changed during the cycle`);
        const readable = await incoming;
        readable.on('data', (c: Buffer) => (total += c.length));
        return readable;
      } catch (err) {
        // Nobody will read this stream: destroy it if it came (the sender sees an abort and closes its
        // file), and refuse it if it comes later. Left alone it would hold S's manifest open until the link drops.
        o.router.cancel(streamId, err instanceof Error ? err : new Error(String(err)));
        incoming.then((r) => r.destroy(), () => undefined);
        throw err;
      }
    },
  };
}
