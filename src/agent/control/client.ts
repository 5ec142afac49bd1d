import { request } from 'node:http';
import { PeerError, VmmirrorError, type ErrorCode, ErrorCodes } from '../../errors';
import type { ControlEndpoint } from './server';

// The CLI's side of the control API.

export interface ControlClientOptions extends ControlEndpoint {
  token: string;
  timeoutMs?: number;
}

/** One authenticated call; AGENT_UNREACHABLE when nothing listens, the agent's own error code otherwise. */
export function callAgent(o: ControlClientOptions, method: 'GET' | 'POST', path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        method,
        path,
        ...(o.socketPath !== undefined ? { socketPath: o.socketPath } : { host: '127.0.0.1', port: o.port ?? 7421 }),
        headers: { authorization: `Bearer ${o.token}`, accept: 'application/json' },
        timeout: o.timeoutMs ?? 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let body: unknown;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            reject(new PeerError('AGENT_UNREACHABLE', `the agent answered ${res.statusCode} with something that is not JSON`));
            return;
          }
          if (res.statusCode === 200) resolve(body);
          else reject(remoteError(res.statusCode ?? 0, body));
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new PeerError('AGENT_UNREACHABLE', `the agent did not answer within ${o.timeoutMs ?? 30_000} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof VmmirrorError) reject(err);
      else reject(new PeerError('AGENT_UNREACHABLE', `the agent is not running (or not listening on ${o.socketPath ?? `127.0.0.1:${o.port ?? 7421}`}): ${err.code ?? err.message}`, { cause: err }));
    });
    req.end();
  });
}

function remoteError(status: number, body: unknown): VmmirrorError {
  const e = (body as { Error?: { Code?: string; Message?: string; Details?: Record<string, unknown> } }).Error;
  const code = e?.Code !== undefined && e.Code in ErrorCodes ? (e.Code as ErrorCode) : status === 401 ? 'AGENT_UNAUTHORIZED' : 'INTERNAL';
  return new VmmirrorError(code as ErrorCode, e?.Message ?? `agent answered HTTP ${status}`, { details: e?.Details ?? {} });
}
