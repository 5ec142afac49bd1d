import type { TLSSocket } from 'node:tls';
import { ConfigError } from '../errors';
import { fingerprintOf, normalizeFingerprint } from './certs';
import type { PeerAuth, PinnedPeer } from './types';

// TLS 1.3 only, both sides present a certificate, and the chain is never checked: each side is a
// self-signed host, so there is no CA to trust and no host name to verify (peers are often reached
// by IP). What authenticates a peer is its certificate's SHA-256 fingerprint being pinned in the
// cluster file; TLS 1.3 proves the peer holds that certificate's private key.

/** TLS options shared by server and client. */
export function baseTlsOptions(auth: PeerAuth): {
  key: string;
  cert: string;
  minVersion: 'TLSv1.3';
  maxVersion: 'TLSv1.3';
  rejectUnauthorized: false;
} {
  return { key: auth.identity.keyPem, cert: auth.identity.certPem, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', rejectUnauthorized: false };
}

/** Pinned peers keyed by normalized fingerprint (throws CONFIG_INVALID on a malformed one). */
export function pinIndex(pinned: PinnedPeer[]): Map<string, PinnedPeer> {
  const map = new Map<string, PinnedPeer>();
  for (const p of pinned) {
    const fp = normalizeFingerprint(p.fingerprint);
    const other = map.get(fp);
    if (other) {
      throw new ConfigError('CONFIG_INVALID', `peers ${other.name} and ${p.name} pin the same certificate fingerprint`, { details: { fingerprint: fp } });
    }
    if ([...map.values()].some((q) => q.name === p.name)) {
      throw new ConfigError('CONFIG_INVALID', `peer ${p.name} is pinned twice`, { details: { name: p.name } });
    }
    map.set(fp, p);
  }
  return map;
}

/** The fingerprint of the certificate the other end presented, or undefined if it sent none. */
export function presentedFingerprint(socket: TLSSocket): string | undefined {
  const cert = socket.getPeerCertificate();
  if (!cert || !cert.raw || cert.raw.length === 0) return undefined;
  return fingerprintOf(cert.raw);
}
