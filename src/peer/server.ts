import { lookup } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import { createServer as createNetServer, isIP, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { z } from 'zod';
import { PeerError } from '../errors';
import type { Logger } from '../log';
import { PreAuthGate } from './admission';
import { PeerConnection } from './connection';
import { HandlerSet } from './handlers';
import { resolveLinkOptions, resolveServerAdmission, type ServerAdmissionOptions } from './options';
import { RefusalLog } from './refusal-log';
import type { RequestDef, RequestHandler } from './request';
import { baseTlsOptions, pinIndex, presentedFingerprint } from './tls-options';
import type { CloseReason, LinkOptions, PeerServerOptions, PinnedPeer, StreamHandler } from './types';

/** Distinct source addresses whose refusals are counted separately per log interval. */
const MAX_LOGGED_SOURCES = 64;

/** Counters for tests and status: what the server refused, and how many frames its connections decoded. */
export interface PeerServerStats {
  refused: Record<string, number>;
  framesReceived: number;
  /** Sockets accepted that have not authenticated yet. */
  preAuth: number;
  /** Errors the listening socket reported (e.g. EMFILE on accept), by code. */
  listenerErrors: Record<string, number>;
}

// Listens for the pinned peers. A plain TCP listener admits sockets through the PreAuthGate (caps in
// total and per source, the pinned peer's address always admitted, one deadline from accept to
// hello) and hands the admitted ones to a TLS server that never listens itself. A client is checked
// in 'secureConnection' before a single byte of application data is read: no pinned fingerprint,
// no frame decoder. At most one live connection per pinned identity: a newer authenticated one
// replaces the older (which may be a half-dead socket the peer already gave up on).
export class PeerServer extends EventEmitter {
  private readonly listener: NetServer;
  private readonly server: Server;
  private readonly gate: PreAuthGate;
  private readonly refusals: RefusalLog;
  private readonly admission: ServerAdmissionOptions;
  private readonly pins: Map<string, PinnedPeer>;
  private readonly link: LinkOptions;
  private readonly logger: Logger;
  private readonly handlers = new HandlerSet();
  private readonly live = new Map<string, PeerConnection>();
  private readonly sockets = new Set<TLSSocket>();
  private readonly counters = { refused: {} as Record<string, number>, framesReceived: 0, listenerErrors: {} as Record<string, number> };
  private listening = false;
  private closing = false;

  constructor(private readonly o: PeerServerOptions) {
    super();
    this.pins = pinIndex(o.pinned);
    this.link = resolveLinkOptions(pickLink(o));
    this.admission = resolveServerAdmission(o);
    this.logger = this.link.logger!.child({ side: 'server', host: o.hostName });
    this.link.logger = this.logger;
    this.refusals = new RefusalLog({ logger: this.logger, intervalMs: this.admission.refusalLogIntervalMs, maxSources: MAX_LOGGED_SOURCES, scope: 'connection' });
    this.gate = new PreAuthGate(this.admission, (source, reason, fields) => {
      this.counters.refused[reason] = (this.counters.refused[reason] ?? 0) + 1;
      this.refusals.record(source, reason, fields);
    });
    this.gate.prefer((o.preferredAddresses ?? []).filter((a) => isIP(a) !== 0));
    // The gate's own deadline covers TLS and hello; the TLS one is only a backstop behind it.
    this.server = createServer({ ...baseTlsOptions(o), requestCert: true, handshakeTimeout: this.admission.preAuthTimeoutMs + 1000 });
    this.server.on('secureConnection', (socket: TLSSocket) => this.accept(socket));
    this.server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      // A socket already gone (reset, evicted, timed out) was accounted for when it left the gate.
      const entry = this.gate.find(socket.remoteAddress, socket.remotePort);
      if (entry) this.gate.refuse(entry, 'tls-handshake-failed', { error: err.code ?? err.message });
      socket.destroy(); // the TLS layer too, not only the TCP socket under it
    });
    this.server.on('error', (err: NodeJS.ErrnoException) => this.onListenerError(err));
    this.listener = createNetServer((raw: Socket) => this.onTcp(raw));
    this.listener.on('error', (err: NodeJS.ErrnoException) => this.onListenerError(err));
  }

  /** Starts listening; resolves with the bound address (port 0 picks one). */
  async listen(): Promise<{ address: string; port: number }> {
    await this.resolvePreferredNames();
    return new Promise((resolve, reject) => {
      this.listener.once('error', reject);
      this.listener.listen(this.o.port, this.o.host, () => {
        this.listener.off('error', reject);
        this.listening = true;
        const a = this.listener.address() as AddressInfo;
        this.emit('listening', a);
        resolve({ address: a.address, port: a.port });
      });
    });
  }

  /** True while the listening socket is open (false before listen(), after close() or after 'listener-lost'). */
  get isListening(): boolean {
    return this.listening && this.listener.listening;
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
    return {
      refused: { ...this.counters.refused },
      framesReceived: frames,
      preAuth: this.gate.size,
      listenerErrors: { ...this.counters.listenerErrors },
    };
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    this.closing = true;
    this.gate.closeAll();
    for (const c of this.live.values()) c.close('local-close');
    for (const s of this.sockets) s.destroy();
    this.refusals.close();
    if (!this.listener.listening) return;
    await new Promise<void>((resolve) => this.listener.close(() => resolve()));
  }

  private async resolvePreferredNames(): Promise<void> {
    for (const name of (this.o.preferredAddresses ?? []).filter((a) => isIP(a) === 0)) {
      try {
        this.gate.prefer((await lookup(name, { all: true })).map((r) => r.address));
      } catch (err) {
        this.logger.warn({ event: 'preferred-address-unresolved', name, code: (err as NodeJS.ErrnoException).code }, 'cannot resolve a preferred peer address; not preferring it');
      }
    }
  }

  private onTcp(raw: Socket): void {
    if (this.closing) return void raw.destroy();
    if (this.gate.offer(raw)) this.server.emit('connection', raw);
  }

  // After listen() succeeded an error must not crash the agent: an accept failure (EMFILE, ENFILE,
  // ENOBUFS) is logged with its code while the listener keeps serving; a listener that is gone is
  // surfaced with 'listener-lost' so the owner can act (the outgoing client link is unaffected).
  private onListenerError(err: NodeJS.ErrnoException): void {
    if (!this.listening) return; // listen() rejects with it
    const code = err.code ?? 'UNKNOWN';
    this.counters.listenerErrors[code] = (this.counters.listenerErrors[code] ?? 0) + 1;
    if (!this.listener.listening && !this.closing) {
      this.listening = false;
      this.logger.error({ event: 'listener-lost', code, syscall: err.syscall, err }, 'peer listener is gone: the peer cannot connect to this host');
      this.emit('listener-lost', err);
      return;
    }
    this.refusals.record('(listener)', 'accept-error', { code, syscall: err.syscall });
    this.emit('listener-error', err);
  }

  private accept(socket: TLSSocket): void {
    const entry = this.gate.find(socket.remoteAddress, socket.remotePort);
    if (this.closing || !entry) return void socket.destroy();
    const fingerprint = presentedFingerprint(socket);
    if (!fingerprint) return this.gate.refuse(entry, 'no-client-certificate');
    const pin = this.pins.get(fingerprint);
    if (!pin) return this.gate.refuse(entry, 'unpinned-certificate', { fingerprint });
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    const conn = new PeerConnection(socket, { role: 'server', hostName: this.o.hostName, peerName: pin.name, peerFingerprint: fingerprint, options: this.link });
    this.handlers.install(conn);
    conn.start().then(
      () => (this.gate.authenticated(entry) ? this.up(conn) : conn.close('local-close')),
      (err: PeerError) => {
        // The connection logged a protocol refusal itself; a socket that simply closed was counted by the gate.
        this.gate.dropSilently(entry);
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
