import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { PeerError } from '../../src/errors';
import { monoNow } from '../../src/util/mono';
import { createHostIdentity } from '../../src/peer/certs';
import { PeerClient } from '../../src/peer/client';
import { defineRequest } from '../../src/peer/request';
import { AgentWitnessClient } from '../../src/witness/client';
import { initWitness, loadWitness } from '../../src/witness/config';
import type { WitnessEvent } from '../../src/witness/events';
import { WITNESS_PEER_NAME } from '../../src/witness/schema';
import { WitnessServer } from '../../src/witness/server';
import { freePort } from '../agent/two-hosts';
import { tempDir } from '../helpers/tmp';
import { claimAnswer, handoverAnswer, record, type Recorded, type Recorder } from './helpers';

// A planned handover over the real witness server (mutual TLS on loopback, real claims file):
// the owner hands the next epoch to its peer, and from then on both hosts' lease replies say so.

const a = createHostIdentity('hv-a');
const b = createHostIdentity('hv-b');
type Lease = Extract<WitnessEvent, { type: 'witness-lease' }>;

describe('WitnessServer: a handover (failback, planned switchover)', function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => Promise<void>;
  let server: WitnessServer;
  let closers: Array<() => Promise<void>>;
  let port: number;
  let fingerprint: string;

  const client = (name: 'hv-a' | 'hv-b'): { c: AgentWitnessClient; rec: Recorder } => {
    const c = new AgentWitnessClient({ hostName: name, identity: name === 'hv-a' ? a : b, address: '127.0.0.1', port, fingerprint, modules: ['vm1'], renewIntervalMs: 100, requestTimeoutMs: 3000, link: { reconnectMinMs: 50, reconnectMaxMs: 200 } });
    closers.push(() => c.close());
    const rec = record(c, name);
    c.start();
    return { c, rec };
  };

  /** The first lease this host asked for after `after` (its claims are then read after the grant). */
  async function leaseAfter(rec: Recorder, after: number): Promise<Lease> {
    const r = await rec.waitFor((e) => e.type === 'witness-lease' && e.askedAt >= after, 10_000, 'a lease asked after the handover');
    return r.e as Lease;
  }

  const claimsOnDisk = async (): Promise<unknown> => (JSON.parse(await readFile(join(dir, 'claims.json'), 'utf8')) as { Claims: unknown }).Claims;

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir('vmmirror-witness-handover-'));
    closers = [];
    port = await freePort('127.0.0.1');
    const r = await initWitness({ dir, address: '127.0.0.1', port, pins: [{ Name: 'hv-a', CertificateFingerprint: a.fingerprint }, { Name: 'hv-b', CertificateFingerprint: b.fingerprint }] });
    fingerprint = r.fingerprint;
    const cfg = JSON.parse(await readFile(r.configFile, 'utf8')) as Record<string, unknown>;
    await writeFile(r.configFile, JSON.stringify({ ...cfg, LeaseMs: 500, GrantMarginMs: 0, DriftPpm: 0 }));
    server = new WitnessServer({ witness: await loadWitness(dir) });
    const s = await server.start();
    // Past the quiet period of a fresh start, on the server's own clock.
    await new Promise((res) => setTimeout(res, s.quietMs + 20));
  });
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
    await server.close();
    await cleanup();
  });

  it("the owner's handover is granted, durable, repeatable, and every later lease reply to either host names (E+1, to)", async () => {
    const A = client('hv-a');
    const B = client('hv-b');
    expect((await claimAnswer(A.c, A.rec, 'vm1', 1, 'own')).e).to.deep.include({ type: 'witness-claim', granted: true, current: { epoch: 1, owner: 'hv-a' } });
    // Both hosts renew: a takeover by hv-b is refused, the owner's handover is not.
    expect((await claimAnswer(B.c, B.rec, 'vm1', 2, 'takeover')).e).to.deep.include({ granted: false, current: { epoch: 1, owner: 'hv-a' } });
    const granted: Recorded = await handoverAnswer(A.c, A.rec, 'vm1', 2, 'hv-b');
    expect(granted.e).to.deep.equal({ type: 'witness-claim', now: granted.e.now, module: 'vm1', epoch: 2, granted: true, current: { epoch: 2, owner: 'hv-b' } });
    // Durable before answered.
    expect(await claimsOnDisk()).to.deep.equal({ vm1: { Epoch: 2, Owner: 'hv-b' } });
    const answeredAt = monoNow();
    expect((await leaseAfter(A.rec, answeredAt)).claims).to.deep.equal({ vm1: { epoch: 2, owner: 'hv-b' } });
    expect((await leaseAfter(B.rec, answeredAt)).claims).to.deep.equal({ vm1: { epoch: 2, owner: 'hv-b' } });
    // The answer was lost: the same handover again is granted again.
    expect((await handoverAnswer(A.c, A.rec, 'vm1', 2, 'hv-b')).e).to.deep.include({ granted: true, current: { epoch: 2, owner: 'hv-b' } });
    // The receiver owns it now: it confirms it; the old owner's own claim of it is stale.
    expect((await claimAnswer(B.c, B.rec, 'vm1', 2, 'own')).e).to.deep.include({ granted: true, current: { epoch: 2, owner: 'hv-b' } });
    expect((await claimAnswer(A.c, A.rec, 'vm1', 2, 'own')).e).to.deep.include({ granted: false, current: { epoch: 2, owner: 'hv-b' } });
    // And hands it back (the switchover the other way).
    expect((await handoverAnswer(B.c, B.rec, 'vm1', 3, 'hv-a')).e).to.deep.include({ granted: true, current: { epoch: 3, owner: 'hv-a' } });
    expect((await leaseAfter(B.rec, monoNow())).claims).to.deep.equal({ vm1: { epoch: 3, owner: 'hv-a' } });
    expect(await claimsOnDisk()).to.deep.equal({ vm1: { Epoch: 3, Owner: 'hv-a' } });
  });

  it('refuses a handover by the non-owner, to itself, or skipping an epoch, and records nothing', async () => {
    const A = client('hv-a');
    const B = client('hv-b');
    expect((await claimAnswer(A.c, A.rec, 'vm1', 1, 'own')).e).to.deep.include({ granted: true });
    expect((await handoverAnswer(B.c, B.rec, 'vm1', 2, 'hv-a')).e).to.deep.include({ type: 'witness-claim', granted: false, current: { epoch: 1, owner: 'hv-a' } });
    expect((await handoverAnswer(A.c, A.rec, 'vm1', 2, 'hv-a')).e).to.deep.include({ type: 'witness-claim', granted: false, current: { epoch: 1, owner: 'hv-a' } });
    expect((await handoverAnswer(A.c, A.rec, 'vm1', 3, 'hv-b')).e).to.deep.include({ type: 'witness-claim', granted: false, current: { epoch: 1, owner: 'hv-a' } });
    expect((await handoverAnswer(A.c, A.rec, 'vm9', 1, 'hv-b')).e).to.deep.include({ type: 'witness-claim', granted: false, current: { epoch: 0, owner: null } });
    // No target: the client's own schema check fails it before sending.
    expect((await handoverAnswer(A.c, A.rec, 'vm1', 2, undefined)).e).to.deep.include({ type: 'effect-failed', effect: 'claim-epoch', code: 'PEER_PROTOCOL' });
    expect(await claimsOnDisk()).to.deep.equal({ vm1: { Epoch: 1, Owner: 'hv-a' } });
    expect((await leaseAfter(B.rec, monoNow())).claims).to.deep.equal({ vm1: { epoch: 1, owner: 'hv-a' } });
  });

  it('the server checks the body itself (a handover without To, or To on another kind, is a schema refusal) and names why it refuses', async () => {
    // A client that skips the schema (as a buggy or hostile pinned host could).
    const raw = new PeerClient({ hostName: 'hv-a', identity: a, host: '127.0.0.1', port, expectPeer: WITNESS_PEER_NAME, pinned: [{ name: WITNESS_PEER_NAME, fingerprint }] });
    closers.push(() => raw.close());
    raw.start();
    const conn = await raw.connected(10_000);
    const Loose = defineRequest('witness.claim', z.unknown(), z.unknown());
    expect(await conn.request(Loose, { Module: 'vm1', Epoch: 1, Kind: 'own' })).to.deep.equal({ granted: true, epoch: 1, owner: 'hv-a' });
    for (const body of [{ Module: 'vm1', Epoch: 2, Kind: 'handover' }, { Module: 'vm1', Epoch: 2, Kind: 'own', To: 'hv-b' }, { Module: 'vm1', Epoch: 2, Kind: 'handover', To: '../x' }]) {
      const err = await conn.request(Loose, body).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, JSON.stringify(body)).to.be.instanceOf(PeerError);
      expect((err as PeerError).code, JSON.stringify(body)).to.equal('PEER_PROTOCOL');
    }
    // The refusal's reason travels in the reply (the cluster layer's event keeps only the answer).
    const rawB = new PeerClient({ hostName: 'hv-b', identity: b, host: '127.0.0.1', port, expectPeer: WITNESS_PEER_NAME, pinned: [{ name: WITNESS_PEER_NAME, fingerprint }] });
    closers.push(() => rawB.close());
    rawB.start();
    const connB = await rawB.connected(10_000);
    expect(await connB.request(Loose, { Module: 'vm1', Epoch: 2, Kind: 'handover', To: 'hv-a' })).to.deep.equal({ granted: false, epoch: 1, owner: 'hv-a', reason: 'not-owner' });
    expect(await conn.request(Loose, { Module: 'vm1', Epoch: 2, Kind: 'handover', To: 'hv-a' })).to.deep.equal({ granted: false, epoch: 1, owner: 'hv-a', reason: 'bad-target' });
    expect(await conn.request(Loose, { Module: 'vm1', Epoch: 3, Kind: 'handover', To: 'hv-b' })).to.deep.equal({ granted: false, epoch: 1, owner: 'hv-a', reason: 'not-next-epoch' });
    expect(await claimsOnDisk()).to.deep.equal({ vm1: { Epoch: 1, Owner: 'hv-a' } });
  });
});
