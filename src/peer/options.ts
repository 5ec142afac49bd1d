import { componentLogger } from '../log';
import { ABSOLUTE_MAX_PAYLOAD, DEFAULT_MAX_PAYLOAD } from './frame-codec';
import type { LinkOptions } from './types';

export const DEFAULT_LINK_OPTIONS: Omit<LinkOptions, 'logger' | 'bandwidth'> = {
  maxFramePayload: DEFAULT_MAX_PAYLOAD,
  heartbeatIntervalMs: 1000,
  peerLostTimeoutMs: 5000,
  helloTimeoutMs: 5000,
  streamWindowBytes: 4 * 1024 * 1024,
  requestTimeoutMs: 30_000,
};

/** Fills defaults and checks the knobs once, at construction (never on the hot path). */
export function resolveLinkOptions(o: Partial<LinkOptions>): LinkOptions {
  const r: LinkOptions = { ...DEFAULT_LINK_OPTIONS, ...stripUndefined(o), logger: o.logger ?? componentLogger('peer') };
  const positive = ['heartbeatIntervalMs', 'peerLostTimeoutMs', 'helloTimeoutMs', 'streamWindowBytes', 'requestTimeoutMs'] as const;
  for (const k of positive) {
    if (!Number.isFinite(r[k]) || r[k] <= 0) throw new RangeError(`peer link option ${k} must be a positive number (got ${String(r[k])})`);
  }
  if (!Number.isInteger(r.maxFramePayload) || r.maxFramePayload < 1024 || r.maxFramePayload > ABSOLUTE_MAX_PAYLOAD) {
    throw new RangeError(`peer link option maxFramePayload must be an integer in [1024, ${ABSOLUTE_MAX_PAYLOAD}]`);
  }
  if (r.peerLostTimeoutMs <= r.heartbeatIntervalMs) throw new RangeError('peerLostTimeoutMs must exceed heartbeatIntervalMs');
  if (r.streamWindowBytes > 0xffffffff) throw new RangeError('streamWindowBytes must fit in 32 bits');
  return r;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** What the server does with sockets that have not authenticated yet (docs/peer-link.md, "Unauthenticated clients"). */
export interface ServerAdmissionOptions {
  maxPreAuthSockets: number;
  maxPreAuthPerSource: number;
  preAuthTimeoutMs: number;
  refusalLogIntervalMs: number;
}

export const DEFAULT_SERVER_ADMISSION: ServerAdmissionOptions = {
  maxPreAuthSockets: 64,
  maxPreAuthPerSource: 8,
  // A TLS 1.3 handshake plus the hello is 1.5 round trips: far under a second even across a WAN.
  preAuthTimeoutMs: 3000,
  refusalLogIntervalMs: 10_000,
};

export function resolveServerAdmission(o: Partial<ServerAdmissionOptions>): ServerAdmissionOptions {
  const r: ServerAdmissionOptions = { ...DEFAULT_SERVER_ADMISSION, ...stripUndefined(o) };
  for (const k of Object.keys(DEFAULT_SERVER_ADMISSION) as Array<keyof ServerAdmissionOptions>) {
    if (!Number.isInteger(r[k]) || r[k] <= 0) throw new RangeError(`peer server option ${k} must be a positive integer (got ${String(r[k])})`);
  }
  if (r.maxPreAuthPerSource > r.maxPreAuthSockets) throw new RangeError('maxPreAuthPerSource must not exceed maxPreAuthSockets');
  return r;
}
