import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { rm } from 'node:fs/promises';
import { ExitCodes, UsageError, VmmirrorError } from '../../errors';
import { componentLogger, type Logger } from '../../log';
import { errorDocument } from '../../cli/output';
import { tokenMatches } from './auth';

// The local control API the CLI talks to: loopback TCP or a Unix socket / named pipe, JSON over
// HTTP, every request authenticated by the token file. Nothing here is reachable from the network.

const defaultLog = componentLogger('control');

export interface ControlHandlers {
  status(): Promise<unknown>;
  sync(module: string): Promise<unknown>;
  /** `vmmirror failover` / `failback`: a planned switchover (or its plan), waited for to the end. */
  switchover?(module: string, o: { action: 'failover' | 'failback'; to?: string; whatIf: boolean }): Promise<unknown>;
  /** `vmmirror balance --apply`: relays BalanceRewrite (src/balance/wire.ts) to the peer and returns its answer. */
  balancePeer?(planId: string, undo: boolean): Promise<unknown>;
  /** `vmmirror drain <host>` / `vmmirror resume <host>` (docs/cluster.md "Maintenance"). */
  maintenance?(host: string, action: 'drain' | 'resume', whatIf: boolean): Promise<unknown>;
}

export interface ControlEndpoint {
  /** Loopback port, or a socket/pipe path. */
  port?: number;
  socketPath?: string;
}

const HTTP_STATUS: Record<string, number> = { USAGE: 400, CONFIG: 404, PEER: 503, INPUT: 422 };

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function bearer(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  return h !== undefined && h.startsWith('Bearer ') ? h.slice(7) : undefined;
}

function statusFor(err: unknown): number {
  if (!(err instanceof VmmirrorError)) return 500;
  const cls = Object.entries(ExitCodes).find(([, v]) => v === err.exitCode)?.[0] ?? 'INTERNAL';
  return HTTP_STATUS[cls] ?? 500;
}

async function route(req: IncomingMessage, h: ControlHandlers): Promise<{ status: number; body: unknown }> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method === 'GET' && url.pathname === '/v1/status') return { status: 200, body: await h.status() };
  const m = /^\/v1\/modules\/([^/]+)\/sync$/.exec(url.pathname);
  if (req.method === 'POST' && m !== null) return { status: 200, body: await h.sync(decodeURIComponent(m[1]!)) };
  const sw = /^\/v1\/modules\/([^/]+)\/(failover|failback)$/.exec(url.pathname);
  if (req.method === 'POST' && sw !== null && h.switchover !== undefined) {
    const to = url.searchParams.get('to');
    const whatIf = url.searchParams.get('whatIf');
    if (whatIf !== null && whatIf !== 'true' && whatIf !== 'false') throw new UsageError(`whatIf must be true or false, got ${JSON.stringify(whatIf)}`);
    const action = sw[2] as 'failover' | 'failback';
    return { status: 200, body: await h.switchover(decodeURIComponent(sw[1]!), { action, whatIf: whatIf === 'true', ...(to !== null ? { to } : {}) }) };
  }
  const mt = /^\/v1\/hosts\/([^/]+)\/(drain|resume)$/.exec(url.pathname);
  if (req.method === 'POST' && mt !== null && h.maintenance !== undefined) {
    const whatIf = url.searchParams.get('whatIf');
    if (whatIf !== null && whatIf !== 'true' && whatIf !== 'false') throw new UsageError(`whatIf must be true or false, got ${JSON.stringify(whatIf)}`);
    return { status: 200, body: await h.maintenance(decodeURIComponent(mt[1]!), mt[2] as 'drain' | 'resume', whatIf === 'true') };
  }
  if (req.method === 'POST' && url.pathname === '/v1/balance/peer' && h.balancePeer !== undefined) {
    const undo = url.searchParams.get('undo');
    if (undo !== 'true' && undo !== 'false') throw new UsageError(`undo must be true or false, got ${JSON.stringify(undo)}`);
    return { status: 200, body: await h.balancePeer(url.searchParams.get('planId') ?? '', undo === 'true') };
  }
  return { status: 404, body: { Error: { Code: 'USAGE', Message: `no such endpoint: ${req.method} ${url.pathname}` } } };
}

/** Starts the control API; resolves once it listens. Refuses to bind anything but loopback. */
export async function startControlServer(
  endpoint: ControlEndpoint, token: string, h: ControlHandlers, options: { log?: Logger } = {},
): Promise<{ close(graceMs?: number): Promise<void>; address: string; server: Server }> {
  const log = options.log ?? defaultLog;
  const inFlight = new Set<Promise<unknown>>();
  const server: Server = createServer((req, res) => {
    req.resume();
    if (!tokenMatches(bearer(req), token)) {
      log.warn({ method: req.method, url: req.url, reason: bearer(req) === undefined ? 'no token' : 'wrong token' }, 'control request refused');
      send(res, 401, { Error: { Code: 'AGENT_UNAUTHORIZED', Message: 'missing or wrong control token' } });
      return;
    }
    const done = route(req, h).then(
      (r) => send(res, r.status, r.body),
      (err: unknown) => {
        if (!(err instanceof VmmirrorError)) log.error({ err }, 'control request failed');
        send(res, statusFor(err), errorDocument(err));
      },
    );
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
  });
  server.requestTimeout = 0; // a sync may take as long as a cycle
  server.headersTimeout = 10_000;
  const address = endpoint.socketPath ?? `127.0.0.1:${endpoint.port ?? 7421}`;
  if (endpoint.socketPath !== undefined && process.platform !== 'win32') await rm(endpoint.socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const listening = (): void => {
      server.off('error', reject);
      resolve();
    };
    if (endpoint.socketPath !== undefined) server.listen(endpoint.socketPath, listening);
    else server.listen(endpoint.port ?? 7421, '127.0.0.1', listening);
  });
  // Once listening, an error on the server (EMFILE while accepting, say) must not crash the agent:
  // Node keeps listening and retries the accept, so log it (with its code) and carry on.
  server.on('error', (err: NodeJS.ErrnoException) => log.error({ code: err.code, err }, 'control API server error; still listening'));
  log.info({ address }, 'control API listening');
  return {
    address,
    server,
    // Answers already being computed (a sync that finished during shutdown) still reach the CLI.
    close: async (graceMs = 5000) => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await Promise.race([Promise.allSettled([...inFlight]), new Promise((r) => setTimeout(r, graceMs).unref())]);
      server.closeAllConnections();
      await closed;
    },
  };
}
