import { expect } from 'chai';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHostIdentity } from '../../src/peer/certs';
import { AgentWitnessClient } from '../../src/witness/client';
import { initWitness, loadWitness } from '../../src/witness/config';
import { WITNESS_LIMITS } from '../../src/witness/schema';
import { WitnessServer } from '../../src/witness/server';
import { freePort } from '../agent/two-hosts';
import { tempDir } from '../helpers/tmp';
import { claimAnswer, record, type Recorder } from './helpers';

// WitnessServer in-process (real TLS on loopback, real files): a claim is answered only once it is
// on disk, and the number of modules it records is capped.

const a = createHostIdentity('hv-a');
const b = createHostIdentity('hv-b');

describe('WitnessServer: durable before answered, bounded', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => Promise<void>;
  let server: WitnessServer;
  let clients: AgentWitnessClient[];

  const client = (name: 'hv-a' | 'hv-b', port: number, fingerprint: string): { c: AgentWitnessClient; rec: Recorder } => {
    const c = new AgentWitnessClient({ hostName: name, identity: name === 'hv-a' ? a : b, address: '127.0.0.1', port, fingerprint, modules: ['vm1'], renewIntervalMs: 200, requestTimeoutMs: 3000, link: { reconnectMinMs: 50, reconnectMaxMs: 200 } });
    clients.push(c);
    const rec = record(c, name);
    c.start();
    return { c, rec };
  };

  async function start(claimsPath: string): Promise<{ port: number; fingerprint: string }> {
    const port = await freePort('127.0.0.1');
    const r = await initWitness({ dir, address: '127.0.0.1', port, pins: [{ Name: 'hv-a', CertificateFingerprint: a.fingerprint }, { Name: 'hv-b', CertificateFingerprint: b.fingerprint }], force: true });
    const cfg = JSON.parse(await readFile(r.configFile, 'utf8')) as Record<string, unknown>;
    await writeFile(r.configFile, JSON.stringify({ ...cfg, ClaimsPath: claimsPath, LeaseMs: 500, GrantMarginMs: 0, DriftPpm: 0 }));
    server = new WitnessServer({ witness: await loadWitness(dir) });
    const s = await server.start();
    // Past the quiet period of a fresh start (LeaseMs 500), on the server's own clock.
    await new Promise((res) => setTimeout(res, s.quietMs + 20));
    return { port, fingerprint: r.fingerprint };
  }

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir('vmmirror-witness-srv-'));
    clients = [];
  });
  afterEach(async () => {
    for (const c of clients) await c.close();
    await server.close();
    await cleanup();
  });

  it('a claim it could not write is not granted and not remembered', async () => {
    await mkdir(join(dir, 'state'));
    await writeFile(join(dir, 'state', 'claims.json'), '{"Version":1,"Claims":{}}\n');
    const { port, fingerprint } = await start('state/claims.json');
    await rm(join(dir, 'state'), { recursive: true }); // its folder gone: the next write cannot land
    const A = client('hv-a', port, fingerprint);
    const failed = await claimAnswer(A.c, A.rec, 'vm1', 1, 'own');
    expect(failed.e).to.deep.include({ type: 'effect-failed', effect: 'claim-epoch', code: 'FILE_NOT_FOUND' });
    await mkdir(join(dir, 'state'));
    // Had the failed grant stuck in memory, hv-b's first start would be refused as stale.
    const B = client('hv-b', port, fingerprint);
    const ok = await claimAnswer(B.c, B.rec, 'vm1', 1, 'own');
    expect(ok.e).to.deep.include({ type: 'witness-claim', granted: true, current: { epoch: 1, owner: 'hv-b' } });
    expect(JSON.parse(await readFile(join(dir, 'state', 'claims.json'), 'utf8'))).to.deep.equal({ Version: 1, Claims: { vm1: { Epoch: 1, Owner: 'hv-b' } } });
  });

  it('refuses to start when its claims file is missing (init made it: a witness that forgot its claims could vouch for a stale copy)', async () => {
    await initWitness({ dir, address: '127.0.0.1', port: 7999, pins: [{ Name: 'hv-a', CertificateFingerprint: a.fingerprint }, { Name: 'hv-b', CertificateFingerprint: b.fingerprint }], force: true });
    await rm(join(dir, 'claims.json'));
    const err = await new WitnessServer({ witness: await loadWitness(dir) }).start().then(() => null, (e: unknown) => e);
    expect((err as { code?: string } | null)?.code).to.equal('WITNESS_STATE_INVALID');
  });

  it('refuses a claim for one module more than its cap, and keeps serving the modules it has', async () => {
    const saved = WITNESS_LIMITS.maxClaims;
    WITNESS_LIMITS.maxClaims = 2;
    try {
      const { port, fingerprint } = await start('claims.json');
      const A = client('hv-a', port, fingerprint);
      expect((await claimAnswer(A.c, A.rec, 'vm1', 1, 'own')).e).to.deep.include({ granted: true });
      expect((await claimAnswer(A.c, A.rec, 'vm2', 1, 'own')).e).to.deep.include({ granted: true });
      expect((await claimAnswer(A.c, A.rec, 'vm3', 1, 'own')).e).to.deep.include({ type: 'effect-failed', code: 'PEER_REFUSED' });
      expect((await claimAnswer(A.c, A.rec, 'vm1', 2, 'own')).e).to.deep.include({ granted: true, current: { epoch: 2, owner: 'hv-a' } });
      expect(Object.keys((JSON.parse(await readFile(join(dir, 'claims.json'), 'utf8')) as { Claims: object }).Claims)).to.deep.equal(['vm1', 'vm2']);
    } finally {
      WITNESS_LIMITS.maxClaims = saved;
    }
  });
});
