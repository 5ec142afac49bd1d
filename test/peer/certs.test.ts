import { expect } from 'chai';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHostIdentity, fingerprintOf, normalizeFingerprint } from '../../src/peer/certs';
import { hasCode } from '../../src/errors';

describe('src/peer/certs', () => {
  it('creates a self-signed certificate that node and openssl parse, for the host name given', () => {
    const id = createHostIdentity('hyperv-a');
    const cert = new X509Certificate(id.certPem);
    expect(cert.subject).to.equal('CN=hyperv-a');
    expect(cert.issuer).to.equal('CN=hyperv-a');
    expect(cert.verify(createPublicKey(id.keyPem))).to.equal(true);
    expect(cert.ca).to.equal(false);
    expect(new Date(cert.validTo).getTime()).to.be.greaterThan(Date.now() + 19 * 365 * 86400_000);
    const dir = mkdtempSync(join(tmpdir(), 'vmmirror-cert-'));
    try {
      writeFileSync(join(dir, 'c.pem'), id.certPem);
      const out = execFileSync('openssl', ['x509', '-in', join(dir, 'c.pem'), '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' });
      expect(out.trim().split('=')[1]).to.equal(id.fingerprint);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fingerprints a certificate the same from PEM and from DER, as upper-case hex pairs', () => {
    const id = createHostIdentity('b');
    const cert = new X509Certificate(id.certPem);
    expect(fingerprintOf(id.certPem)).to.equal(id.fingerprint);
    expect(fingerprintOf(cert.raw)).to.equal(id.fingerprint);
    expect(id.fingerprint).to.equal(cert.fingerprint256);
    expect(id.fingerprint).to.match(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it('gives every identity its own key and fingerprint', () => {
    const a = createHostIdentity('a');
    const b = createHostIdentity('a');
    expect(a.fingerprint).to.not.equal(b.fingerprint);
    expect(a.keyPem).to.not.equal(b.keyPem);
  });

  it('normalizes fingerprints typed in either case, with or without colons, and rejects anything else', () => {
    const id = createHostIdentity('c');
    expect(normalizeFingerprint(id.fingerprint.toLowerCase())).to.equal(id.fingerprint);
    expect(normalizeFingerprint(id.fingerprint.replace(/:/g, ''))).to.equal(id.fingerprint);
    for (const bad of ['', 'AB:CD', id.fingerprint + ':00', 'zz'.repeat(32)]) {
      expect(() => normalizeFingerprint(bad)).to.throw().that.satisfies((e: unknown) => hasCode(e, 'CONFIG_INVALID'));
    }
  });

  it('refuses a host name that is not a plain host name', () => {
    for (const bad of ['', 'a b', 'x/../y', 'é', '-a']) {
      expect(() => createHostIdentity(bad)).to.throw().that.satisfies((e: unknown) => hasCode(e, 'CONFIG_INVALID'));
    }
  });
});
