import { monoNow } from '../../src/util/mono';
import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { grantorExpiry } from '../../src/cluster/lease';
import { createHostIdentity } from '../../src/peer/certs';
import { AgentWitnessClient } from '../../src/witness/client';
import type { WitnessEvent } from '../../src/witness/events';
import { freePort } from '../agent/two-hosts';
import { vmmirror } from '../cli/vmmirror-process';
import { rawPeer } from '../helpers/raw-peer';
import { tempDir } from '../helpers/tmp';
import { claimAnswer, delay, record, startWitnessProcess, type Recorder, type WitnessProcess } from './helpers';

// `vmmirror witness` as a real child process, two pinned clients over real mutual TLS, claims on
// a real file, SIGKILL and restart. Leases are short (1 s) so the test waits out real leases.

const LEASE = { LeaseMs: 1000, GrantMarginMs: 200, DriftPpm: 1000 };
const T = { leaseMs: LEASE.LeaseMs, grantMarginMs: LEASE.GrantMarginMs, driftPpm: LEASE.DriftPpm, fenceLeadMs: 0 };
const a = createHostIdentity('hv-a');
const b = createHostIdentity('hv-b');
const stranger = createHostIdentity('hv-a'); // claims a pinned name, with a key nobody pinned

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

describe('vmmirror witness (real process, real TLS)', function () {
  this.timeout(180_000);
  let dir: string;
  let cleanup: () => Promise<void>;
  let port: number;
  let fingerprint: string;
  let witness: WitnessProcess | undefined;
  const clients: AgentWitnessClient[] = [];

  const client = (name: string, id = name === 'hv-a' ? a : b): { c: AgentWitnessClient; rec: Recorder } => {
    const c = new AgentWitnessClient({ hostName: name, identity: id, address: '127.0.0.1', port, fingerprint, modules: ['vm1', 'vm2'], renewIntervalMs: 200, requestTimeoutMs: 2000, link: { reconnectMinMs: 50, reconnectMaxMs: 300, connectTimeoutMs: 2000 } });
    clients.push(c);
    const rec = record(c, name);
    c.start();
    return { c, rec };
  };

  before(async () => {
    ({ dir, cleanup } = await tempDir('vmmirror-witness-'));
    port = await freePort('127.0.0.1');
    const r = await vmmirror(['witness', 'init', '--dir', dir, '--address', '127.0.0.1', '--port', String(port), '--pin', `hv-a=${a.fingerprint}`, '--pin', `hv-b=${b.fingerprint.replace(/:/g, '').toLowerCase()}`, '--json']);
    expect(r.exitCode, r.stderr).to.equal(0);
    const out = JSON.parse(r.stdout) as { CertificateFingerprint: string; ConfigFile: string };
    fingerprint = out.CertificateFingerprint;
    const cfg = JSON.parse(await readFile(out.ConfigFile, 'utf8')) as Record<string, unknown>;
    await writeFile(out.ConfigFile, JSON.stringify({ ...cfg, ...LEASE }));
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    if (witness && witness.child.exitCode === null) {
      witness.child.kill('SIGKILL');
      await witness.exited;
    }
    witness = undefined;
  });
  after(() => cleanup());

  it('renews two leases, refuses a takeover while the owner renews, grants it once it stops; claims survive SIGKILL and a restarted witness is quiet first', async () => {
    witness = await startWitnessProcess(dir);
    expect(witness.quietMs).to.be.within(1, grantorExpiry(0, T.leaseMs, T));
    const A = client('hv-a');
    const B = client('hv-b');
    await A.rec.waitFor((e) => e.type === 'witness-lease', 30_000, 'lease of hv-a');
    await B.rec.waitFor((e) => e.type === 'witness-lease', 30_000, 'lease of hv-b');
    const lease = A.rec.events.find((r) => r.e.type === 'witness-lease')!.e as Extract<WitnessEvent, { type: 'witness-lease' }>;
    expect(lease.grantedMs).to.equal(1000);
    expect(lease.askedAt).to.be.below(lease.now); // measured before sending

    // A first start: granted only after the quiet period of a fresh witness.
    let first: Awaited<ReturnType<typeof claimAnswer>>;
    for (;;) {
      first = await claimAnswer(A.c, A.rec, 'vm1', 1, 'own');
      if (first.e.type === 'witness-claim' && first.e.granted) break;
      expect(first.e).to.deep.include({ type: 'witness-claim', granted: false });
      await delay(100);
    }
    expect(first.at - witness.spawnedAt, 'no claim granted before the quiet period ended').to.be.at.least(witness.quietMs);
    expect(first.e).to.deep.include({ current: { epoch: 1, owner: 'hv-a' } });

    // A takeover while hv-a renews: refused, again and again, for longer than a lease.
    const until = monoNow() + 2500;
    while (monoNow() < until) {
      const r = await claimAnswer(B.c, B.rec, 'vm1', 2, 'takeover');
      expect(r.e).to.deep.include({ type: 'witness-claim', granted: false, current: { epoch: 1, owner: 'hv-a' } });
      await delay(150);
    }
    // hv-b's lease reply names the current epoch of vm1.
    const seen = await B.rec.waitFor((e) => e.type === 'witness-lease' && e.claims.vm1?.epoch === 1, 5000, 'lease carrying vm1@1');
    expect((seen.e as Extract<WitnessEvent, { type: 'witness-lease' }>).claims).to.deep.equal({ vm1: { epoch: 1, owner: 'hv-a' } });

    // hv-a stops renewing. Its lease counts from before it last asked; the witness must not grant
    // the takeover before that lease ended on hv-a's own clock (same clock as ours here).
    await A.c.close();
    const stoppedAt = monoNow();
    const lastAsked = Math.max(...A.rec.events.filter((r) => r.e.type === 'witness-lease').map((r) => (r.e as { askedAt: number }).askedAt));
    let granted: Awaited<ReturnType<typeof claimAnswer>>;
    for (;;) {
      granted = await claimAnswer(B.c, B.rec, 'vm1', 2, 'takeover');
      if (granted.e.type === 'witness-claim' && granted.e.granted) break;
      await delay(50);
    }
    expect(granted.at, "takeover only after hv-a's lease ended").to.be.at.least(lastAsked + T.leaseMs);
    process.stderr.write(`      takeover granted ${Math.round(granted.at - stoppedAt)} ms after hv-a stopped renewing (lease ${T.leaseMs} ms + margin)\n`);
    const onDisk = JSON.parse(await readFile(join(dir, 'claims.json'), 'utf8')) as unknown;
    expect(onDisk).to.deep.equal({ Version: 1, Claims: { vm1: { Epoch: 2, Owner: 'hv-b' } } });

    // SIGKILL the witness and start it again: the claim survives; nothing is granted while quiet.
    witness.child.kill('SIGKILL');
    await witness.exited;
    const killedAt = monoNow();
    witness = await startWitnessProcess(dir);
    const A2 = client('hv-a');
    const relisted = await A2.rec.waitFor((e) => e.type === 'witness-lease', 30_000, 'lease after restart');
    expect((relisted.e as Extract<WitnessEvent, { type: 'witness-lease' }>).claims, 'claims survived SIGKILL').to.deep.equal({ vm1: { epoch: 2, owner: 'hv-b' } });
    // hv-a's stale claims are refused with the surviving epoch; hv-b's confirmation waits out the quiet period.
    const stale = await claimAnswer(A2.c, A2.rec, 'vm1', 2, 'own');
    expect(stale.e).to.deep.include({ granted: false, current: { epoch: 2, owner: 'hv-b' } });
    let confirmed: Awaited<ReturnType<typeof claimAnswer>>;
    let refusedWhileQuiet = 0;
    for (;;) {
      confirmed = await claimAnswer(B.c, B.rec, 'vm1', 2, 'own');
      if (confirmed.e.type === 'witness-claim' && confirmed.e.granted) break;
      if (confirmed.e.type === 'witness-claim') refusedWhileQuiet += 1;
      await delay(50);
    }
    expect(confirmed.at - witness.spawnedAt, 'quiet after restart').to.be.at.least(witness.quietMs);
    expect(witness.quietMs).to.be.above(0);
    process.stderr.write(`      restart: ${refusedWhileQuiet} claims refused while quiet (${witness.quietMs} ms), confirmed ${Math.round(confirmed.at - killedAt)} ms after the kill\n`);
  });

  it('refuses an unpinned client before it can send a frame, and its claims end as failed-claim events', async () => {
    witness = await startWitnessProcess(dir);
    const raw = await rawPeer(stranger, witness.port);
    await raw.closed;
    expect(raw.frames, 'no frame from the witness').to.have.length(0);
    const S = client('hv-a', stranger);
    const r = await claimAnswer(S.c, S.rec, 'vm1', 3, 'own', 15_000);
    expect(r.e).to.deep.include({ type: 'effect-failed', effect: 'claim-epoch', module: 'vm1' });
    expect(S.rec.events.filter((x) => x.e.type === 'witness-lease')).to.have.length(0);
    expect(witness.stderr()).to.include('unpinned-certificate');
  });

  it('a witness that stops answering (SIGSTOP) ends a claim as a failed-claim event in time; it answers again after SIGCONT and stops cleanly on SIGTERM', async () => {
    witness = await startWitnessProcess(dir, ['--json']);
    const A = client('hv-a');
    await A.rec.waitFor((e) => e.type === 'witness-lease', 30_000, 'lease of hv-a');
    witness.child.kill('SIGSTOP');
    try {
      const stoppedAt = monoNow();
      const r = await claimAnswer(A.c, A.rec, 'vm2', 1, 'own', 10_000);
      expect(r.e).to.deep.include({ type: 'effect-failed', effect: 'claim-epoch', code: 'PEER_TIMEOUT' });
      // It waited out requestTimeoutMs (2000; Node timers may fire a millisecond early), not failed at once.
      expect(r.at - stoppedAt).to.be.at.least(1990);
      const settled = monoNow() + 500;
      await delay(1000);
      expect(A.rec.events.filter((x) => x.e.type === 'witness-lease' && x.at > settled), 'no lease while it is stopped').to.have.length(0);
    } finally {
      witness.child.kill('SIGCONT');
    }
    // Reconnects if the link gave up meanwhile; the witness answers again.
    let answered;
    for (;;) {
      answered = await claimAnswer(A.c, A.rec, 'vm2', 1, 'own', 15_000);
      if (answered.e.type === 'witness-claim' && answered.e.granted) break;
      await delay(100);
    }
    await A.rec.waitFor((e) => e.type === 'witness-lease', 10_000, 'lease after SIGCONT', answered.at);
    witness.child.kill('SIGTERM');
    expect(await witness.exited).to.equal(0);
    const doc = JSON.parse(witness.stdout()) as { Signal: string; StartedAt: string; StoppedAt: string };
    expect(doc.Signal).to.equal('SIGTERM');
    expect(Date.parse(doc.StoppedAt)).to.be.at.least(Date.parse(doc.StartedAt));
  });

  it('a damaged claims file stops the start with WITNESS_STATE_INVALID and opens no port', async () => {
    const claims = join(dir, 'claims.json');
    const good = await readFile(claims, 'utf8');
    try {
      for (const bad of ['{"Version":1,"Claims":{"vm1":{"Epoch":2', '{"Version":1,"Claims":{"../x":{"Epoch":2,"Owner":"hv-b"}}}', '{"Version":1,"Claims":{"vm1":{"Epoch":0,"Owner":"hv-b"}}}']) {
        await writeFile(claims, bad);
        const r = await vmmirror(['witness', 'run', '--dir', dir, '--json']);
        expect(r.exitCode, r.stderr).to.equal(3);
        const doc = JSON.parse(r.stdout) as { Error: { Code: string; Message: string } };
        expect(doc.Error.Code).to.equal('WITNESS_STATE_INVALID');
        expect(doc.Error.Message).to.include('claims.json is damaged');
        expect(await portOpen(port)).to.equal(false);
        expect(await readFile(claims, 'utf8'), 'left as found').to.equal(bad);
      }
    } finally {
      await writeFile(claims, good);
    }
  });

  it('init refuses to overwrite an identity; run refuses a witness.json whose hosts are placeholders', async () => {
    const again = await vmmirror(['witness', 'init', '--dir', dir, '--address', '127.0.0.1', '--json']);
    expect(again.exitCode).to.equal(3);
    expect((JSON.parse(again.stdout) as { Error: { Code: string } }).Error.Code).to.equal('IDENTITY_EXISTS');
    const other = await tempDir('vmmirror-witness-');
    try {
      const init = await vmmirror(['witness', 'init', '--dir', other.dir, '--address', '127.0.0.1']);
      expect(init.exitCode, init.stderr).to.equal(0);
      expect(init.stdout).to.include('fill in both hosts');
      const r = await vmmirror(['witness', 'run', '--dir', other.dir, '--json']);
      expect(r.exitCode).to.equal(3);
      const doc = JSON.parse(r.stdout) as { Error: { Code: string; Message: string } };
      expect(doc.Error.Code).to.equal('CONFIG_INVALID');
      expect(doc.Error.Message).to.include('Hosts.0.CertificateFingerprint');
    } finally {
      await other.cleanup();
    }
  });
});
