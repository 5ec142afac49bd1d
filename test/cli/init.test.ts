import { expect } from 'chai';
import { readFile, stat } from 'node:fs/promises';
import { X509Certificate, createHash } from 'node:crypto';
import { join } from 'node:path';
import { InitOutput } from '../../src/cli/commands/init';
import { tempDir } from '../helpers/tmp';
import { vmmirror } from './vmmirror-process';

describe('src/cli/commands/init', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(() => cleanup());

  it('creates an owner-only key, a certificate whose fingerprint it prints, a token and the skeleton', async () => {
    const r = await vmmirror(['init', '--host', 'hv1', '--address', '10.0.0.1', '--port', '7500', '--dir', dir, '--json']);
    expect(r.exitCode, r.stderr).to.equal(0);
    const out = InitOutput.parse(JSON.parse(r.stdout));
    expect((await stat(out.KeyPath)).mode & 0o777).to.equal(0o600);
    expect((await stat(out.TokenPath)).mode & 0o777).to.equal(0o600);
    const cert = new X509Certificate(await readFile(out.CertificatePath));
    const fp = createHash('sha256').update(cert.raw).digest('hex').toUpperCase().match(/../g)!.join(':');
    expect(out.CertificateFingerprint).to.equal(fp);
    expect(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(await readFile(out.KeyPath)))).to.equal(true);
    const cluster = JSON.parse(await readFile(join(dir, 'cluster.json'), 'utf8')) as { Hosts: Array<Record<string, unknown>> };
    expect(cluster.Hosts[0]).to.deep.equal({ Name: 'hv1', Address: '10.0.0.1', Port: 7500, CertificateFingerprint: fp });
    expect((await readFile(out.TokenPath, 'utf8')).trim()).to.match(/^[0-9a-f]{64}$/);
  });

  it('prints the fingerprint in text mode and leaves a config that only lacks the peer', async () => {
    const r = await vmmirror(['init', '--host', 'hv1', '--address', '10.0.0.1', '--dir', dir]);
    expect(r.exitCode).to.equal(0);
    expect(r.stdout).to.match(/^ {2}([0-9A-F]{2}:){31}[0-9A-F]{2}$/m);
    const v = await vmmirror(['config', 'validate', '--dir', dir, '--json']);
    expect(v.exitCode).to.equal(3);
    const doc = JSON.parse(v.stdout) as { Problems: Array<{ File: string; Path: string }> };
    expect(doc.Problems.map((p) => `${p.File}:${p.Path}`)).to.deep.equal(['cluster.json:Hosts[1].CertificateFingerprint']);
  });

  it('refuses to overwrite an existing identity unless --force', async () => {
    expect((await vmmirror(['init', '--host', 'hv1', '--address', 'a', '--dir', dir])).exitCode).to.equal(0);
    const key = await readFile(join(dir, 'identity', 'host.key'), 'utf8');
    const again = await vmmirror(['init', '--host', 'hv1', '--address', 'a', '--dir', dir, '--json']);
    expect(again.exitCode).to.equal(3);
    expect((JSON.parse(again.stdout) as { Error: { Code: string } }).Error.Code).to.equal('IDENTITY_EXISTS');
    expect(await readFile(join(dir, 'identity', 'host.key'), 'utf8')).to.equal(key);
    const forced = await vmmirror(['init', '--host', 'hv1', '--address', 'a', '--dir', dir, '--force']);
    expect(forced.exitCode).to.equal(0);
    expect(await readFile(join(dir, 'identity', 'host.key'), 'utf8')).to.not.equal(key);
    expect((await stat(join(dir, 'identity', 'host.key'))).mode & 0o777).to.equal(0o600);
  });

  it('refuses a bad host name with a usage-class config error and writes nothing', async () => {
    const r = await vmmirror(['init', '--host', '../evil', '--address', 'a', '--dir', dir, '--json']);
    expect(r.exitCode).to.equal(3);
    expect(JSON.parse(r.stdout)).to.have.nested.property('Error.Code', 'CONFIG_INVALID');
    const exists = await stat(join(dir, 'host.json')).then(() => true, () => false);
    expect(exists).to.equal(false);
  });
});
