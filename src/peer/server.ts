import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { z } from 'zod';
import { PeerError } from '../errors';
import type { Logger } from '../log';
import { PeerConnection } from './connection';
import { HandlerSet } from './handlers';
import { resolveLinkOptions } from './options';
import type { RequestDef, RequestHandler } from './request';
import { baseTlsOptions, pinIndex, presentedFingerprint } from './tls-options';
import type { CloseReason, LinkOptions, PeerServerOptions, PinnedPeer, StreamHandler } from './types';

/** Open sockets (authenticated or not) beyond which new TCP connections are dropped. */
const MAX_SOCKETS = 64;

/** Counters for tests and status: what the server refused, and how many frames its connections decoded. */
export interface PeerServerStats {
  refused: Record<string, number>;
  framesReceived: number;
}

// Listens for the pinned peers. A client is checked in 'secureConnection' before a single byte of
// application data is read: no pinned fingerprint, no frame decoder. At most one live connection
// per pinned identity: a newer authenticated one replaces the older (which may be a half-dead
// socket the peer already gave up on).
export class PeerServer extends EventEmitter {
  private readonly server: Server;
  private readonly pins: Map<string, PinnedPeer>;
  private readonly link: LinkOptions;
  private readonly logger: Logger;
  private readonly handlers = new HandlerSet();
  private readonly live = new Map<string, PeerConnection>();
  private readonly sockets = new Set<TLSSocket>();
  private readonly counters: PeerServerStats = { refused: {}, framesReceived: 0 };
  private closing = false;

  constructor(private readonly o: PeerServerOptions) {
    super();
    this.pins = pinIndex(o.pinned);
    this.link = resolveLinkOptions(pickLink(o));
    this.logger = this.link.logger!.child({ side: 'server', host: o.hostName });
    this.link.logger = this.logger;
    this.server = createServer({ ...baseTlsOptions(o), requestCert: true, handshakeTimeout: this.link.helloTimeoutMs });
    // Unauthenticated sockets cost memory until their handshake deadline: cap how many may wait.
    this.server.maxConnections = MAX_SOCKETS;
    this.server.on('secureConnection', (socket: TLSSocket) => this.accept(socket));
    this.server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      this.refuse(socket, 'tls-handshake-failed', { error: err.code ?? err.message });
    });
  }

  /** Starts listening; resolves with the bound address (port 0 picks one). */
  listen(): Promise<{ address: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.o.port, this.o.host, () => {
        this.server.off('error', reject);
        const a = this.server.address() as AddressInfo;
        this.emit('listening', a);
        resolve({ address: a.address, port: a.port });
      });
    });
  }

  onRequest<B extends z.ZodType, R extends z.ZodType>(def: RequestDef<B, R>, handler: RequestHandler<B, R, PeerConnection>): void {
    this.handlers.onRequest(def, handler);
  }

  onStream(handler: StreamHandler): void {
    this.handlers.onStream(handler);
  }

  /** The live connection of one pinned peer, if any. */
  connection(peerName: string): PeerConnection | undefined {
    return this.live.get(peerName);
  }

  connections(): PeerConnection[] {
    return [...this.live.values()];
  }

  stats(): PeerServerStats {
    let frames = this.counters.framesReceived;
    for (const c of this.live.values()) frames += c.framesReceived;
    return { refused: { ...this.counters.refused }, framesReceived: frames };
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    this.closing = true;
    for (const c of this.live.values()) c.close('local-close');
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private refuse(socket: TLSSocket, reason: string, fields: Record<string, unknown> = {}): void {
    this.counters.refused[reason] = (this.counters.refused[reason] ?? 0) + 1;
    this.logger.warn({ event: 'refused', scope: 'connection', reason, remoteAddress: socket.remoteAddress, ...fields }, 'peer connection refused');
    socket.destroy();
  }

  private accept(socket: TLSSocket): void {
    if (this.closing) return void socket.destroy();
    const fingerprint = presentedFingerprint(socket);
    if (!fingerprint) return this.refuse(socket, 'no-client-certificate');
    const pin = this.pins.get(fingerprint);
    if (!pin) return this.refuse(socket, 'unpinned-certificate', { fingerprint });
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    const conn = new PeerConnection(socket, { role: 'server', hostName: this.o.hostName, peerName: pin.name, peerFingerprint: fingerprint, options: this.link });
    this.handlers.install(conn);
    conn.start().then(
      () => this.up(conn),
      (err: PeerError) => {
        this.counters.framesReceived += conn.framesReceived;
        this.logger.debug({ err, peer: pin.name }, 'hello exchange failed');
      },
    );
  }

  private up(conn: PeerConnection): void {
    const old = this.live.get(conn.peerName);
    this.live.set(conn.peerName, conn);
    if (old) old.close('replaced');
    this.logger.info({ event: 'peer-up', peer: conn.peerName, session: conn.sessionId }, 'peer connected');
    conn.once('close', (reason: CloseReason) => {
      this.counters.framesReceived += conn.framesReceived;
      if (this.live.get(conn.peerName) === conn) this.live.delete(conn.peerName);
      if (reason !== 'replaced' && !this.closing) this.emit('peer-lost', conn, reason);
    });
    this.emit('peer-up', conn);
  }
}

/** The link knobs out of a server or client option bag. */
export function pickLink(o: Partial<LinkOptions>): Partial<LinkOptions> {
  const { maxFramePayload, heartbeatIntervalMs, peerLostTimeoutMs, helloTimeoutMs, streamWindowBytes, requestTimeoutMs, bandwidth, logger } = o;
  return { maxFramePayload, heartbeatIntervalMs, peerLostTimeoutMs, helloTimeoutMs, streamWindowBytes, requestTimeoutMs, bandwidth, logger };
}
