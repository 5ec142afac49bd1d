// The peer link: mutual-TLS, framed, multiplexed connection between two vmmirror agents (docs/peer-link.md).
export { createHostIdentity, fingerprintOf, normalizeFingerprint } from './certs';
export { PeerClient } from './client';
export { PeerConnection } from './connection';
export { FrameDecoder, encodeFrame, encodeHeader, DEFAULT_MAX_PAYLOAD, HEADER_BYTES, PROTOCOL_VERSION, type Frame, type FrameType } from './frame-codec';
export { DEFAULT_LINK_OPTIONS } from './options';
export { defineRequest, type RequestDef, type RequestHandler } from './request';
export { PeerServer, type PeerServerStats } from './server';
export { TokenBucket } from './token-bucket';
export type * from './types';
