import type { z } from 'zod';
import type { PeerConnection } from './connection';
import type { RequestDef, RequestHandler } from './request';
import type { StreamHandler } from './types';

// Handlers registered on a PeerServer or PeerClient, installed on every connection it makes, before
// the hello exchange, so no request can arrive before its handler.
export class HandlerSet {
  private readonly requests: Array<{ def: RequestDef; handler: RequestHandler<z.ZodType, z.ZodType, PeerConnection> }> = [];
  private stream: StreamHandler | undefined;
  private readonly live = new Set<PeerConnection>();

  onRequest<B extends z.ZodType, R extends z.ZodType>(def: RequestDef<B, R>, handler: RequestHandler<B, R, PeerConnection>): void {
    const h = handler as unknown as RequestHandler<z.ZodType, z.ZodType, PeerConnection>;
    this.requests.push({ def, handler: h });
    for (const c of this.live) c.onRequest(def, h);
  }

  onStream(handler: StreamHandler): void {
    this.stream = handler;
    for (const c of this.live) c.onStream(handler);
  }

  /** Installs every handler on a new connection (and later registrations too, while it lives). */
  install(conn: PeerConnection): void {
    for (const { def, handler } of this.requests) conn.onRequest(def, handler);
    if (this.stream) conn.onStream(this.stream);
    this.live.add(conn);
    conn.once('close', () => this.live.delete(conn));
  }
}
