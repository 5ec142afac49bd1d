import type { Readable } from 'node:stream';
import type { Logger } from '../log';
import type { TokenBucket } from './token-bucket';

// Shapes of the peer link's public API (docs/peer-link.md, /work/notes/peer-api.md).

/** A host's own TLS identity: PEM private key (PKCS#8), PEM self-signed certificate, its fingerprint. */
export interface HostIdentity {
  keyPem: string;
  certPem: string;
  /** SHA-256 of the certificate's DER, upper-case hex pairs joined by ':' (see fingerprintOf). */
  fingerprint: string;
}

/** A peer this host accepts: the name it must state in its hello and its pinned certificate fingerprint. */
export interface PinnedPeer {
  name: string;
  fingerprint: string;
}

/** Per-stream compression, chosen by the sender and announced in stream-open. */
export type StreamCompression = 'none' | 'deflate' | 'brotli';

/** Knobs shared by both ends; every field has a default (DEFAULT_LINK_OPTIONS). */
export interface LinkOptions {
  /** Largest frame payload accepted or sent (bytes). Default 4 MiB. */
  maxFramePayload: number;
  /** Heartbeat period (ms). Default 1000. */
  heartbeatIntervalMs: number;
  /** No frame from the peer for this long -> 'peer-lost' and the connection is closed (ms). Default 5000. */
  peerLostTimeoutMs: number;
  /** Time allowed for the TLS handshake plus hello exchange (ms). Default 5000. */
  helloTimeoutMs: number;
  /** Receive window per stream (bytes of credit outstanding + unread). Default 4 MiB. */
  streamWindowBytes: number;
  /** Default timeout of request() (ms). Default 30000. */
  requestTimeoutMs: number;
  /** Optional shared sending-side bandwidth limit (bytes/s) applied to data frames. */
  bandwidth?: TokenBucket;
  /** Logger; defaults to componentLogger('peer'). */
  logger?: Logger;
}

/** What both PeerServer and PeerClient need to authenticate. */
export interface PeerAuth {
  /** This host's name, stated in our hello. */
  hostName: string;
  identity: Pick<HostIdentity, 'keyPem' | 'certPem'>;
  /** Only these peers are accepted (by certificate fingerprint AND the name in their hello). */
  pinned: PinnedPeer[];
}

export interface PeerServerOptions extends PeerAuth, Partial<LinkOptions> {
  host: string;
  /** 0 picks a free port (see PeerServer.address()). */
  port: number;
  /**
   * Addresses the pinned peers connect from (IP literals or DNS names, resolved at listen()): always
   * admitted however many strangers wait. Addresses of authenticated pinned peers are added on their own.
   */
  preferredAddresses?: string[];
  /** Unauthenticated sockets held at once, all sources. Default 64. */
  maxPreAuthSockets?: number;
  /** Unauthenticated sockets held at once per source address. Default 8. */
  maxPreAuthPerSource?: number;
  /** TCP accept to completed hello, server side (ms). Default 3000. */
  preAuthTimeoutMs?: number;
  /** Refusals from one source are summarised once per this interval (ms). Default 10000. */
  refusalLogIntervalMs?: number;
}

export interface PeerClientOptions extends PeerAuth, Partial<LinkOptions> {
  host: string;
  port: number;
  /** Which pinned peer we expect to reach there (its name); the server must present that fingerprint. */
  expectPeer: string;
  /** TCP connect + TLS handshake + hello deadline per attempt (ms). Default 5000. */
  connectTimeoutMs?: number;
  /** Reconnect backoff: first delay, cap (ms). Defaults 200, 5000. Doubling with +-20% jitter. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
}

/** Extra facts delivered with an incoming stream. */
export interface IncomingStreamInfo {
  streamId: string;
  /** The pinned name of the peer that sent it. */
  peerName: string;
  compression: StreamCompression;
  /** Small JSON metadata the sender attached (validated by the receiver's own schema, if any). */
  meta: unknown;
}

export interface SendStreamOptions {
  compression?: StreamCompression;
  meta?: unknown;
}

/** What sendStream reports once the receiver has read everything. */
export interface SendStreamResult {
  /** Bytes read from the source readable. */
  bytes: number;
  /** Payload bytes on the wire (smaller when compressed). */
  wireBytes: number;
}

/** Handler for an accepted incoming stream; reading `readable` is what grants the sender more credit. */
export type StreamHandler = (streamId: string, readable: Readable, info: IncomingStreamInfo) => void;

/** Why a connection ended (event payloads and logs). */
export type CloseReason =
  | 'local-close'
  | 'remote-close'
  | 'peer-lost'
  | 'protocol-error'
  | 'replaced'
  | 'socket-error'
  | 'hello-timeout';
