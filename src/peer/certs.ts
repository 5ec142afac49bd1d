import { createHash, generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import { ConfigError } from '../errors';
import { bitString, boolean, explicit, integer, octetString, oid, sequence, set, time, utf8String } from './der';
import type { HostIdentity } from './types';

// A host's identity is an ECDSA P-256 key and a self-signed X.509 v3 certificate. Nobody checks a
// chain: peers pin each other's certificate by fingerprint, so the certificate only has to be a
// well-formed container for the public key that TLS 1.3 proves possession of.

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const COMMON_NAME = '2.5.4.3';
const BASIC_CONSTRAINTS = '2.5.29.19';
const VALID_YEARS = 20;

function distinguishedName(commonName: string): Buffer {
  return sequence(set(sequence(oid(COMMON_NAME), utf8String(commonName))));
}

/** Makes a fresh key pair and self-signed certificate for `hostName` (CN), with its fingerprint. */
export function createHostIdentity(hostName: string): HostIdentity {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(hostName)) {
    throw new ConfigError('CONFIG_INVALID', `host name ${JSON.stringify(hostName)} is not a valid host name`, { details: { field: 'hostName' } });
  }
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const algorithm = sequence(oid(ECDSA_WITH_SHA256));
  const now = Date.now();
  const notBefore = new Date(now - 3600_000);
  const notAfter = new Date(now + VALID_YEARS * 365.25 * 86400_000);
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  const extensions = explicit(3, sequence(sequence(oid(BASIC_CONSTRAINTS), boolean(true), octetString(sequence()))));
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))),
    integer(serial),
    algorithm,
    distinguishedName(hostName),
    sequence(time(notBefore), time(notAfter)),
    distinguishedName(hostName),
    publicKey.export({ type: 'spki', format: 'der' }),
    extensions,
  );
  const signature = sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' });
  const der = sequence(tbs, algorithm, bitString(signature));
  const certPem = toPem(der);
  // Parse it back with node's own X.509 parser: a certificate we cannot read must never be written.
  const parsed = new X509Certificate(certPem);
  if (!parsed.verify(publicKey)) throw new Error('self-signed certificate failed its own signature check');
  return {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certPem,
    fingerprint: fingerprintOf(der),
  };
}

function toPem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${b64}-----END CERTIFICATE-----\n`;
}

/** SHA-256 of a certificate's DER as upper-case hex pairs joined by ':' (what `openssl x509 -fingerprint -sha256` prints). */
export function fingerprintOf(cert: string | Buffer): string {
  const der = typeof cert === 'string' ? new X509Certificate(cert).raw : cert;
  return formatFingerprint(createHash('sha256').update(der).digest('hex'));
}

function formatFingerprint(hex: string): string {
  return hex.toUpperCase().replace(/(..)(?!$)/g, '$1:');
}

/** Canonical form of a fingerprint typed by a person: either case, with or without ':'. */
export function normalizeFingerprint(text: string): string {
  const hex = text.trim().replace(/:/g, '');
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new ConfigError('CONFIG_INVALID', 'a certificate fingerprint is 64 hex digits (SHA-256), optionally in pairs joined by ":"', {
      details: { value: text },
    });
  }
  return formatFingerprint(hex);
}
