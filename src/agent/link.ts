import { readFile } from 'node:fs/promises';
import type { LoadedConfig } from '../config';
import { ConfigError, PeerError } from '../errors';
import { componentLogger } from '../log';
import { PeerClient, PeerServer, TokenBucket, type PeerConnection } from '../peer';

// The agent's two ends of the peer link: a server the peer connects to and a client that keeps a
// connection to the peer. Outgoing requests use the client's connection; both serve the handlers.

export interface AgentLink {
  server: PeerServer;
  client: PeerClient;
  /** The connection to send on: ours to the peer, else the peer's to us; waits briefly for one. */
  connection(timeoutMs?: number): Promise<PeerConnection>;
  /** Any live connection now. */
  current(): PeerConnection | undefined;
  /** The second heartbeat path, when either host has a SecondaryAddress; null otherwise. */
  secondary: HeartbeatLink | null;
  close(): Promise<void>;
}

/**
 * The second network (Hosts[].SecondaryAddress): a second mutual-TLS connection with the same
 * identity and pinning, serving heartbeats only. Replication never uses it: it exists so a cut
 * production LAN alone is not a lost peer (docs/cluster.md "Second heartbeat address").
 */
export interface HeartbeatLink {
  /** Listens on this host's SecondaryAddress (null when this host has none). */
  server: PeerServer | null;
  /** Connects to the peer's SecondaryAddress (null when the peer has none). */
  client: PeerClient | null;
  /** Where the peer is reached on this path, for status ("address:port", or "inbound" when only this host listens). */
  peerEndpoint: string;
  current(): PeerConnection | undefined;
}

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError('CONFIG_INVALID', `cannot read the ${what} ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Builds (without opening anything) the link from the config and this host's identity files. */
export async function createLink(config: LoadedConfig): Promise<AgentLink> {
  const identity = { keyPem: await readPem(config.keyPath, 'private key'), certPem: await readPem(config.certificatePath, 'certificate') };
  const pinned = [{ name: config.peer.Name, fingerprint: config.peer.CertificateFingerprint }];
  const a = config.agent;
  const common = {
    hostName: config.self.Name,
    identity,
    pinned,
    heartbeatIntervalMs: a.HeartbeatIntervalMs,
    peerLostTimeoutMs: a.PeerLossTimeoutMs,
    ...(a.BandwidthLimitBytesPerSecond !== null ? { bandwidth: new TokenBucket(a.BandwidthLimitBytesPerSecond) } : {}),
    logger: componentLogger('peer', { host: config.self.Name }),
  };
  // The peer's configured address is preferred from the start: until it has authenticated once
  // (never, after a restart) nothing else tells it from a flood of one-socket strangers.
  const server = new PeerServer({ ...common, host: config.self.Address, port: config.self.Port, preferredAddresses: [config.peer.Address] });
  const client = new PeerClient({ ...common, host: config.peer.Address, port: config.peer.Port, expectPeer: config.peer.Name, reconnectMaxMs: 2000 });
  const current = (): PeerConnection | undefined => client.current() ?? server.connection(config.peer.Name);
  const secondary = secondaryLink(config, { hostName: common.hostName, identity, pinned, heartbeatIntervalMs: a.HeartbeatIntervalMs, peerLostTimeoutMs: a.PeerLossTimeoutMs, logger: common.logger });
  return {
    server,
    client,
    current,
    secondary,
    async connection(timeoutMs = 5000) {
      const c = current();
      if (c !== undefined) return c;
      try {
        return await client.connected(timeoutMs);
      } catch (err) {
        throw new PeerError('PEER_UNREACHABLE', `peer ${config.peer.Name} (${config.peer.Address}:${config.peer.Port}) is not connected`, { cause: err });
      }
    },
    async close() {
      await secondary?.client?.close();
      await secondary?.server?.close();
      await client.close();
      await server.close();
    },
  };
}

function secondaryLink(config: LoadedConfig, shared: Omit<ConstructorParameters<typeof PeerServer>[0], 'host' | 'port'>): HeartbeatLink | null {
  const self = config.self;
  const peer = config.peer;
  if (self.SecondaryAddress === undefined && peer.SecondaryAddress === undefined) return null;
  const log = componentLogger('peer', { host: self.Name, path: 'secondary' });
  // The peer reaches this address from its own second network: its SecondaryAddress when it has one.
  const server = self.SecondaryAddress === undefined ? null : new PeerServer({ ...shared, logger: log, host: self.SecondaryAddress, port: self.SecondaryPort ?? self.Port, preferredAddresses: [peer.SecondaryAddress ?? peer.Address] });
  const peerPort = peer.SecondaryPort ?? peer.Port;
  const client = peer.SecondaryAddress === undefined ? null : new PeerClient({ ...shared, logger: log, host: peer.SecondaryAddress, port: peerPort, expectPeer: peer.Name, reconnectMaxMs: 2000 });
  return {
    server,
    client,
    peerEndpoint: peer.SecondaryAddress === undefined ? 'inbound' : `${peer.SecondaryAddress}:${peerPort}`,
    current: () => client?.current() ?? server?.connection(peer.Name),
  };
}
