import { EventEmitter } from 'node:events';
import { connect, type TLSSocket } from 'node:tls';
import type { z } from 'zod';
import { PeerError } from '../errors';
import type { Logger } from '../log';
import { normalizeFingerprint } from './certs';
import { PeerConnection } from './connection';
import { HandlerSet } from './handlers';
import { resolveLinkOptions } from './options';
import type { RequestDef, RequestHandler } from './request';
import { pickLink } from './server';
import { baseTlsOptions, presentedFingerprint } from './tls-options';
import type { CloseReason, LinkOptions, PeerClientOptions, StreamHandler } from './types';

// Keeps one connection to one pinned peer alive: connect (with a deadline), check the server's
// fingerprint against the pin, exchange hellos, and after any loss reconnect with exponential
// backoff until close().
export class PeerClient extends EventEmitter {
  private readonly link: LinkOptions;
  private readonly logger: Logger;
  private readonly handlers = new HandlerSet();
  private readonly expectedFingerprint: string;
  private conn: PeerConnection | undefined;
  private socket: TLSSocket | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = true;

  constructor(private readonly o: PeerClientOptions) {
    super();
    const pin = o.pinned.find((p) => p.name === o.expectPeer);
    if (!pin) throw new PeerError('PEER_REFUSED', `peer ${o.expectPeer} is not pinned`, { details: { reason: 'not-pinned' } });
    this.expectedFingerprint = normalizeFingerprint(pin.fingerprint);
    this.link = resolveLinkOptions(pickLink(o));
    this.logger = this.link.logger!.child({ side: 'client', host: o.hostName, target: `${o.host}:${o.port}` });
    this.link.logger = this.logger;
  }

  onRequest<B extends z.ZodType, R extends z.ZodType>(def: RequestDef<B, R>, handler: RequestHandler<B, R, PeerConnection>): void {
    this.handlers.onRequest(def, handler);
  }

  onStream(handler: StreamHandler): void {
    this.handlers.onStream(handler);
  }

  /** Starts connecting; keeps reconnecting after every loss until close(). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt();
  }

  /** The live connection, if any. */
  current(): PeerConnection | undefined {
    return this.conn;
  }

  /** Resolves with the live connection, waiting for the next one if needed. */
  connected(timeoutMs = 10_000): Promise<PeerConnection> {
    if (this.conn) return Promise.resolve(this.conn);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('peer-up', onUp);
        reject(new PeerError('PEER_UNREACHABLE', `peer ${this.o.expectPeer} at ${this.o.host}:${this.o.port} not reached within ${timeoutMs} ms`));
      }, timeoutMs);
      const onUp = (c: PeerConnection): void => {
        clearTimeout(timer);
        resolve(c);
      };
      this.once('peer-up', onUp);
    });
  }

  /** Stops reconnecting and closes the connection. */
  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.conn?.close('local-close');
    this.socket?.destroy();
  }

  private attempt(): void {
    if (this.stopped) return;
    const deadline = this.o.connectTimeoutMs ?? 5000;
    const socket = connect({ ...baseTlsOptions(this.o), host: this.o.host, port: this.o.port, checkServerIdentity: () => undefined });
    this.socket = socket;
    let settled = false;
    const timer = setTimeout(() => giveUp('connect-timeout'), deadline);
    const giveUp = (reason: string, err?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      this.logger.debug({ reason, err }, 'connect attempt failed');
      this.retry();
    };
    socket.once('error', (err) => giveUp('socket-error', err));
    socket.once('close', () => giveUp('closed'));
    socket.once('secureConnect', () => {
      const fingerprint = presentedFingerprint(socket);
      if (fingerprint !== this.expectedFingerprint) {
        this.logger.warn({ event: 'refused', scope: 'connection', reason: 'unpinned-server-certificate', fingerprint }, 'server certificate is not the pinned one');
        return giveUp('unpinned-server-certificate');
      }
      const conn = new PeerConnection(socket, {
        role: 'client',
        hostName: this.o.hostName,
        peerName: this.o.expectPeer,
        peerFingerprint: fingerprint,
        options: this.link,
      });
      this.handlers.install(conn);
      conn.start().then(
        () => {
          if (settled) return conn.close('local-close');
          settled = true;
          clearTimeout(timer);
          this.up(conn);
        },
        (err) => giveUp('hello-failed', err),
      );
    });
  }

  private up(conn: PeerConnection): void {
    this.failures = 0;
    this.conn = conn;
    this.logger.info({ event: 'peer-up', session: conn.sessionId }, 'connected to peer');
    conn.once('close', (reason: CloseReason) => {
      if (this.conn === conn) this.conn = undefined;
      if (this.stopped) return;
      this.emit('peer-lost', conn, reason);
      this.retry();
    });
    this.emit('peer-up', conn);
  }

  private retry(): void {
    if (this.stopped) return;
    const min = this.o.reconnectMinMs ?? 200;
    const max = this.o.reconnectMaxMs ?? 5000;
    const base = Math.min(max, min * 2 ** Math.min(this.failures, 20));
    this.failures++;
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.attempt(), delay);
  }
}
