import type { Logger } from '../log';
import { ErrorCodes, PeerError, type ErrorCode } from '../errors';
import type { ControlMessage } from './schema';
import type { LinkOptions } from './types';

// What the request table and the stream classes need from their connection.
export interface Wire {
  readonly logger: Logger;
  readonly options: LinkOptions;
  readonly peerName: string;
  /** Queues one control message (small; never waits for drain). */
  sendControl(message: ControlMessage): void;
  /** Writes one data frame; resolves when the socket can take more (after 'drain' if it was full). */
  sendData(channel: number, payload: Buffer | Buffer[]): Promise<void>;
  /** Fails the whole connection: logs the reason, tells the peer, closes. */
  fail(error: PeerError): void;
  /** True once the connection is closed. */
  readonly closed: boolean;
}

/** The local error code for a code received from the peer (unknown codes become PEER_PROTOCOL). */
export function remoteCode(code: string): ErrorCode {
  return Object.prototype.hasOwnProperty.call(ErrorCodes, code) ? (code as ErrorCode) : 'PEER_PROTOCOL';
}

/** PeerError for an error the peer reported. */
export function remoteError(code: string, message: string, reason: string | undefined, peerName: string): PeerError {
  return new PeerError(remoteCode(code), `peer ${peerName}: ${message}`, { details: { remote: true, remoteCode: code, reason } });
}

/** Code and text of any thrown value, to send to the peer. */
export function describeError(err: unknown): { code: string; message: string; reason?: string } {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'string') {
    const e = err as { code: string; message?: string; details?: { reason?: unknown } };
    const reason = typeof e.details?.reason === 'string' ? e.details.reason : undefined;
    const code = Object.prototype.hasOwnProperty.call(ErrorCodes, e.code) ? e.code : 'INTERNAL';
    return { code, message: String(e.message ?? '').slice(0, 4096), ...(reason ? { reason } : {}) };
  }
  return { code: 'INTERNAL', message: String(err instanceof Error ? err.message : err).slice(0, 4096) };
}
