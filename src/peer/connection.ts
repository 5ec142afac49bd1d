import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { z } from 'zod';
import { PeerError } from '../errors';
import type { Logger } from '../log';
import { encodeHeader, FrameDecoder, PROTOCOL_VERSION, type Frame } from './frame-codec';
import type { RequestDef, RequestHandler } from './request';
import { RequestTable } from './requests';
import { ControlMessage, type HelloMessage } from './schema';
import { StreamRouter } from './stream-router';
import type { CloseReason, LinkOptions, SendStreamOptions, SendStreamResult, StreamHandler } from './types';
import type { Wire } from './wire';

/** Bytes of queued control messages tolerated on top of the streams' windows. */
const CONTROL_BACKLOG_BYTES = 16 * 1024 * 1024;

export interface ConnectionSetup {
  role: 'server' | 'client';
  hostName: string;
  peerName: string;
  peerFingerprint: string;
  options: LinkOptions;
}

// One authenticated TLS connection to a pinned peer (both sides use this class). It owns the frame
// decoder, the hello exchange, heartbeats, requests and the multiplexed streams.
export class PeerConnection extends EventEmitter implements Wire {
  readonly peerName: string;
  readonly peerFingerprint: string;
  readonly logger: Logger;
  readonly options: LinkOptions;
  /** Hash of both hello nonces: names this connection in logs; new on every (re)connection. */
  sessionId = '';
  closed = false;
  framesReceived = 0;
  private readonly decoder: FrameDecoder;
  private readonly requests: RequestTable<PeerConnection>;
  private readonly streams: StreamRouter;
  private readonly nonce = randomBytes(16).toString('hex');
  private helloDone = false;
  private lastHeard = performance.now();
  private heartbeatSeq = 0;
  private timers: NodeJS.Timeout[] = [];
  private helloWaiter: { resolve: () => void; reject: (e: Error) => void } | undefined;

  constructor(
    private readonly socket: TLSSocket,
    private readonly setup: ConnectionSetup,
  ) {
    super();
    this.peerName = setup.peerName;
    this.peerFingerprint = setup.peerFingerprint;
    this.options = setup.options;
    this.logger = setup.options.logger!.child({ peer: setup.peerName });
    this.decoder = new FrameDecoder(setup.options.maxFramePayload);
    this.requests = new RequestTable<PeerConnection>(this, this as PeerConnection);
    this.streams = new StreamRouter(this, setup.role);
    // Credit grants and replies are small and latency-bound: Nagle + delayed ACK would hold them for
    // up to 40 ms on a real network and stall the window. Frames are corked into one write anyway.
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => {
      this.logger.debug({ err }, 'peer socket error');
      this.close('socket-error');
    });
    socket.on('close', () => this.close('remote-close'));
  }

  /** Exchanges hellos; resolves when the peer's hello is valid, rejects (and closes) otherwise. */
  start(): Promise<void> {
    const hello = new Promise<void>((resolve, reject) => (this.helloWaiter = { resolve, reject }));
    this.timers.push(setTimeout(() => this.fail(protocol('hello-timeout', `no hello from ${this.peerName} within ${this.options.helloTimeoutMs} ms`)), this.options.helloTimeoutMs));
    this.sendControl({ kind: 'hello', protocol: PROTOCOL_VERSION, host: this.setup.hostName, nonce: this.nonce });
    return hello;
  }

  /** Sends a request and resolves with the peer's reply, validated by `def.reply`. */
  request<B extends z.ZodType, R extends z.ZodType>(def: RequestDef<B, R>, body: z.input<B>, o: { timeoutMs?: number } = {}): Promise<z.output<R>> {
    return this.requests.request(def, body, o.timeoutMs ?? this.options.requestTimeoutMs);
  }

  /** Handles requests of one type from the peer; the body is validated before `handler` runs. */
  onRequest<B extends z.ZodType, R extends z.ZodType>(def: RequestDef<B, R>, handler: RequestHandler<B, R, PeerConnection>): void {
    this.requests.on(def, handler);
  }

  /** Receiver side: a fresh stream id that the peer may use once, on this connection only. */
  issueStreamId(): string {
    return this.streams.issue();
  }

  /** Sends a byte stream under an id the receiver issued; resolves when the receiver has read it all. */
  sendStream(streamId: string, readable: Readable, o: SendStreamOptions = {}): Promise<SendStreamResult> {
    return this.streams.send(streamId, readable, o);
  }

  /** Receives the peer's streams (only those whose id this side issued). */
  onStream(handler: StreamHandler): void {
    this.streams.handler = handler;
  }

  /** Closes the connection (pending requests and streams fail with PEER_UNREACHABLE). */
  close(reason: CloseReason = 'local-close'): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    const error = new PeerError('PEER_UNREACHABLE', `connection to peer ${this.peerName} closed (${reason})`, { details: { reason } });
    this.helloWaiter?.reject(error);
    this.requests.closeAll(error);
    this.streams.closeAll(error);
    if (reason === 'protocol-error' || reason === 'local-close' || reason === 'replaced') {
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 1000).unref();
    } else {
      this.socket.destroy();
    }
    if (reason === 'peer-lost') this.emit('peer-lost', reason);
    this.emit('close', reason);
  }

  sendControl(message: ControlMessage): void {
    if (this.closed) return;
    const payload = Buffer.from(JSON.stringify(message), 'utf8');
    if (payload.length > this.options.maxFramePayload) {
      throw new PeerError('PEER_PROTOCOL', `control message ${message.kind} of ${payload.length} bytes exceeds the frame limit`, { details: { reason: 'oversize', side: 'local' } });
    }
    this.write('control', 0, [payload]);
  }

  /** One data frame; its payload may be given in pieces (written back to back, never concatenated here). */
  sendData(channel: number, payload: Buffer | Buffer[]): Promise<void> {
    if (this.closed) return Promise.reject(new PeerError('PEER_UNREACHABLE', `connection to peer ${this.peerName} is closed`));
    if (this.write('data', channel, Buffer.isBuffer(payload) ? [payload] : payload)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.on('close', done);
    });
  }

  fail(error: PeerError): void {
    if (this.closed) return;
    const reason = String(error.details.reason ?? 'protocol');
    this.logger.warn({ event: 'refused', scope: 'connection', reason, fingerprint: this.peerFingerprint, session: this.sessionId, detail: error.message }, 'peer connection refused: protocol violation');
    try {
      this.sendControl({ kind: 'error', code: error.code, message: error.message.slice(0, 4096), reason: reason.slice(0, 64) });
    } catch {
      // best effort: the connection is going away anyway
    }
    this.close(reason === 'hello-timeout' ? 'hello-timeout' : 'protocol-error');
  }

  private write(type: Frame['type'], channel: number, pieces: Buffer[]): boolean {
    let length = 0;
    for (const b of pieces) length += b.length;
    this.socket.cork();
    this.socket.write(encodeHeader(type, channel, length));
    let ok = true;
    for (const b of pieces) ok = this.socket.write(b);
    this.socket.uncork();
    // Data is bounded by credit; what else piles up here is replies and heartbeats to a peer that
    // does not read its socket. Past the bound the peer is dropped rather than memory growing.
    const bound = CONTROL_BACKLOG_BYTES + this.streams.sending * (this.options.streamWindowBytes + this.options.maxFramePayload);
    if (this.socket.writableLength > bound && !this.closed) {
      queueMicrotask(() => this.fail(protocol('peer-not-reading', `${this.socket.writableLength} bytes queued to a peer that does not read`)));
    }
    return ok;
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.lastHeard = performance.now();
    try {
      for (const frame of this.decoder.push(chunk)) {
        this.framesReceived++;
        this.dispatch(frame);
        if (this.closed) return;
      }
    } catch (err) {
      this.fail(err instanceof PeerError ? err : protocol('internal', String(err)));
    }
  }

  private dispatch(frame: Frame): void {
    if (frame.type === 'data') {
      if (!this.helloDone) throw protocol('hello-expected', 'data frame before hello');
      this.streams.data(frame.channel, frame.payload);
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(frame.payload.toString('utf8'));
    } catch {
      throw protocol('bad-json', 'control frame is not JSON');
    }
    const parsed = ControlMessage.safeParse(json);
    if (!parsed.success) {
      throw new PeerError('PEER_PROTOCOL', 'control message failed its schema', { details: { reason: 'schema', issues: parsed.error.issues.slice(0, 5) } });
    }
    const msg = parsed.data;
    if (!this.helloDone) {
      if (msg.kind !== 'hello') throw protocol('hello-expected', `${msg.kind} before hello`);
      this.onHello(msg);
      return;
    }
    switch (msg.kind) {
      case 'hello':
        throw protocol('unexpected-hello', 'second hello on one connection');
      case 'heartbeat':
        return;
      case 'request':
        void this.requests.handle(msg);
        return;
      case 'reply':
        this.requests.settle(msg.id, { body: msg.body });
        return;
      case 'reply-error':
        this.requests.settle(msg.id, msg);
        return;
      case 'error':
        this.logger.warn({ event: 'peer-error', code: msg.code, reason: msg.reason, detail: msg.message }, 'peer closed the connection with an error');
        this.close('remote-close');
        return;
      default:
        this.streams.control(msg);
    }
  }

  private onHello(msg: HelloMessage): void {
    if (msg.protocol !== PROTOCOL_VERSION) throw protocol('bad-protocol', `peer speaks protocol ${msg.protocol}, this side ${PROTOCOL_VERSION}`);
    if (msg.host !== this.peerName) throw protocol('wrong-host-name', `certificate pinned for ${this.peerName} but hello says ${msg.host}`);
    const [server, client] = this.setup.role === 'server' ? [this.nonce, msg.nonce] : [msg.nonce, this.nonce];
    this.sessionId = createHash('sha256').update(`${server}:${client}`).digest('hex').slice(0, 32);
    this.helloDone = true;
    clearTimeout(this.timers.pop());
    this.startHeartbeats();
    this.helloWaiter?.resolve();
    this.helloWaiter = undefined;
  }

  private startHeartbeats(): void {
    this.lastHeard = performance.now();
    this.timers.push(
      setInterval(() => this.sendControl({ kind: 'heartbeat', seq: this.heartbeatSeq++, sentAt: Date.now() }), this.options.heartbeatIntervalMs),
      setInterval(() => {
        const silent = Math.round(performance.now() - this.lastHeard); // monotonic: a wall-clock step is not a lost peer
        if (silent <= this.options.peerLostTimeoutMs) return;
        this.logger.warn({ event: 'peer-lost', silentMs: silent, session: this.sessionId }, 'peer lost: no heartbeat');
        this.close('peer-lost');
      }, Math.min(250, this.options.peerLostTimeoutMs / 4)),
    );
  }
}

function protocol(reason: string, message: string): PeerError {
  return new PeerError('PEER_PROTOCOL', message, { details: { reason } });
}
