import { createHostIdentity } from '../../src/peer/certs';
import { PeerClient } from '../../src/peer/client';
import type { PeerConnection } from '../../src/peer/connection';
import { PeerServer } from '../../src/peer/server';
import type { HostIdentity, LinkOptions, PinnedPeer } from '../../src/peer/types';
import { logSink } from './log-sink';

// Identities are slow-ish to make (key generation): make them once per process.
let cached: Record<'a' | 'b' | 'mallory' | 'stranger', HostIdentity> | undefined;
/** Four identities: a (server), b (client), mallory (pinned but hostile), stranger (never pinned). */
export function identities(): Record<'a' | 'b' | 'mallory' | 'stranger', HostIdentity> {
  cached ??= { a: createHostIdentity('a'), b: createHostIdentity('b'), mallory: createHostIdentity('mallory'), stranger: createHostIdentity('stranger') };
  return cached;
}

export interface Pair {
  server: PeerServer;
  client: PeerClient;
  port: number;
  serverConn: PeerConnection;
  clientConn: PeerConnection;
  serverLog: ReturnType<typeof logSink>;
  clientLog: ReturnType<typeof logSink>;
  close: () => Promise<void>;
}

/** Server "a" on 127.0.0.1 pinning b and mallory; client "b" connected to it. */
export async function connectedPair(link: Partial<LinkOptions> = {}, host = '127.0.0.1'): Promise<Pair> {
  const ids = identities();
  const serverLog = logSink();
  const clientLog = logSink();
  const pinnedOnA: PinnedPeer[] = [
    { name: 'b', fingerprint: ids.b.fingerprint },
    { name: 'mallory', fingerprint: ids.mallory.fingerprint },
  ];
  const server = new PeerServer({ hostName: 'a', identity: ids.a, pinned: pinnedOnA, host, port: 0, ...link, logger: serverLog.logger });
  const { port } = await server.listen();
  const serverUp = new Promise<PeerConnection>((resolve) => server.once('peer-up', resolve));
  const client = new PeerClient({
    hostName: 'b',
    identity: ids.b,
    pinned: [{ name: 'a', fingerprint: ids.a.fingerprint }],
    expectPeer: 'a',
    host,
    port,
    reconnectMinMs: 50,
    reconnectMaxMs: 500,
    ...link,
    logger: clientLog.logger,
  });
  client.start();
  const clientConn = await client.connected(5000);
  const serverConn = await serverUp;
  return {
    server,
    client,
    port,
    serverConn,
    clientConn,
    serverLog,
    clientLog,
    close: async () => {
      await client.close();
      await server.close();
    },
  };
}
