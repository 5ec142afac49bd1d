import type { z } from 'zod';
import { PeerError } from '../errors';
import type { RequestDef, RequestHandler } from './request';
import type { RequestMessage, ReplyErrorMessage } from './schema';
import { describeError, remoteError, type Wire } from './wire';

/** Requests from the peer whose handlers may run at once; more are refused, so a peer cannot pile up work. */
const MAX_CONCURRENT_HANDLERS = 64;

interface Pending {
  def: RequestDef;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

// Request/reply over one connection: ids, timeouts, and zod validation of bodies and replies on both ends.
export class RequestTable<C> {
  private nextId = 1;
  private running = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly handlers = new Map<string, { def: RequestDef; handler: RequestHandler<z.ZodType, z.ZodType, C> }>();

  constructor(
    private readonly wire: Wire,
    private readonly self: C,
  ) {}

  /** Registers the handler of one request type (replacing any earlier one). */
  on<B extends z.ZodType, R extends z.ZodType>(def: RequestDef<B, R>, handler: RequestHandler<B, R, C>): void {
    this.handlers.set(def.type, { def, handler: handler as unknown as RequestHandler<z.ZodType, z.ZodType, C> });
  }

  /** Sends a request and resolves with the peer's validated reply. */
  request<B extends z.ZodType, R extends z.ZodType>(def: RequestDef<B, R>, body: z.input<B>, timeoutMs: number): Promise<z.output<R>> {
    if (this.wire.closed) return Promise.reject(new PeerError('PEER_UNREACHABLE', `no connection to peer ${this.wire.peerName}`));
    const parsed = def.body.safeParse(body);
    if (!parsed.success) {
      return Promise.reject(
        new PeerError('PEER_PROTOCOL', `request ${def.type}: body does not match its schema`, {
          details: { reason: 'schema', side: 'local', issues: parsed.error.issues },
        }),
      );
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new PeerError('PEER_TIMEOUT', `request ${def.type} to ${this.wire.peerName}: no reply within ${timeoutMs} ms`, { details: { timeoutMs } }));
      }, timeoutMs);
      this.pending.set(id, { def, resolve: resolve as (v: unknown) => void, reject, timer });
      try {
        this.wire.sendControl({ kind: 'request', id, type: def.type, body: parsed.data });
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(err);
      }
    });
  }

  /** A reply (or reply-error) from the peer. */
  settle(id: number, outcome: { body: unknown } | ReplyErrorMessage): void {
    const p = this.pending.get(id);
    if (!p) {
      this.wire.logger.debug({ id }, 'reply for an unknown or timed-out request ignored');
      return;
    }
    this.pending.delete(id);
    clearTimeout(p.timer);
    if ('code' in outcome) {
      p.reject(remoteError(outcome.code, outcome.message, outcome.reason, this.wire.peerName));
      return;
    }
    const parsed = p.def.reply.safeParse(outcome.body);
    if (parsed.success) {
      p.resolve(parsed.data);
      return;
    }
    this.wire.logger.warn({ event: 'refused', scope: 'reply', reason: 'schema', requestType: p.def.type, issues: parsed.error.issues }, 'reply failed its schema');
    p.reject(new PeerError('PEER_PROTOCOL', `reply to ${p.def.type} from ${this.wire.peerName} does not match its schema`, { details: { reason: 'schema', issues: parsed.error.issues } }));
  }

  /** A request from the peer: validate, run the handler, reply. */
  async handle(msg: RequestMessage): Promise<void> {
    if (this.running >= MAX_CONCURRENT_HANDLERS) {
      this.refuse(msg, 'too-many-requests', `more than ${MAX_CONCURRENT_HANDLERS} requests in progress`, undefined, 'PEER_REFUSED');
      return;
    }
    this.running++;
    try {
      await this.run(msg);
    } finally {
      this.running--;
    }
  }

  private async run(msg: RequestMessage): Promise<void> {
    const entry = this.handlers.get(msg.type);
    if (!entry) {
      this.refuse(msg, 'unknown-request-type', `no handler for request type ${msg.type}`);
      return;
    }
    const parsed = entry.def.body.safeParse(msg.body);
    if (!parsed.success) {
      this.refuse(msg, 'schema', `request ${msg.type}: body does not match its schema`, parsed.error.issues);
      return;
    }
    let reply: unknown;
    try {
      reply = await entry.handler(parsed.data, this.self);
    } catch (err) {
      if (!this.wire.closed) this.wire.sendControl({ kind: 'reply-error', id: msg.id, ...describeError(err) });
      return;
    }
    const checked = entry.def.reply.safeParse(reply);
    if (this.wire.closed) return;
    if (!checked.success) {
      this.wire.logger.error({ requestType: msg.type, issues: checked.error.issues }, 'our own reply failed its schema');
      this.wire.sendControl({ kind: 'reply-error', id: msg.id, code: 'INTERNAL', message: `reply to ${msg.type} failed its schema`, reason: 'reply-schema' });
      return;
    }
    try {
      this.wire.sendControl({ kind: 'reply', id: msg.id, body: checked.data });
    } catch (err) {
      // Only a reply larger than a frame can fail here: the caller hears why instead of timing out.
      this.wire.logger.error({ requestType: msg.type, err }, 'reply does not fit in one frame');
      this.wire.sendControl({ kind: 'reply-error', id: msg.id, code: 'INTERNAL', message: `reply to ${msg.type} does not fit in one frame`, reason: 'reply-too-large' });
    }
  }

  /** Fails every pending request (the connection closed). */
  closeAll(error: PeerError): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(error);
    }
    this.pending.clear();
  }

  private refuse(msg: RequestMessage, reason: string, message: string, issues?: unknown, code = 'PEER_PROTOCOL'): void {
    this.wire.logger.warn({ event: 'refused', scope: 'request', reason, requestType: msg.type, issues }, message);
    this.wire.sendControl({ kind: 'reply-error', id: msg.id, code, message, reason });
  }
}
