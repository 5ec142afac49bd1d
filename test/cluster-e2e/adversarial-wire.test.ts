import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHostIdentity } from '../../src/peer/certs';
import { hello, rawPeer, type RawPeer } from '../helpers/raw-peer';
import { seeded } from '../helpers/seed';
import { steadyAdversaryLab, expectSafe, waitRunning, waitSteady, type AdversaryLab } from './adversary-lab';

// Adversarial review, item 4 (issue 8): the wire of a running agent (hva, in a lab run from the
// CLI). hvb is crashed first, so hva runs both VMs and the test can speak as hvb with hvb's own
// key (a pinned peer) without a second connection racing the real one. What must hold: an
// unpinned client is refused before any frame is answered, whatever it sends; a malformed request
// from the pinned peer is refused by its schema; a cycle.begin with a stale or a future epoch is
// refused with STALE_EPOCH; none of it changes a module's state or epoch, or where a VM runs.

/** The reply (or reply-error) to request `id`, as the raw peer received it. */
async function replyTo(p: RawPeer, id: number, timeoutMs = 5000): Promise<Record<string, unknown>> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    for (const f of p.frames) {
      if (f.type !== 'control') continue;
      const m = JSON.parse(f.payload.toString('utf8')) as Record<string, unknown>;
      if ((m.kind === 'reply' || m.kind === 'reply-error') && m.id === id) return m;
    }
    if (performance.now() > deadline) throw new Error(`no reply to request ${id}`);
    await sleep(20);
  }
}

async function closedWithin(p: RawPeer, ms: number): Promise<boolean> {
  return Promise.race([p.closed.then(() => true), sleep(ms).then(() => false)]);
}

describe('adversarial: the wire of a running agent', function () {
  this.timeout(300_000);
  const rnd = seeded('adversarial wire');
  let a: AdversaryLab;
  let hvaAddress: { host: string; port: number };
  let before0: { states: Record<string, string | null>; epochs: Record<string, number | null> };
  const snapshot = async () => {
    const s = await a.status('hva');
    return { states: Object.fromEntries(s.Modules.map((m) => [m.Name, m.State])), epochs: Object.fromEntries(s.Modules.map((m) => [m.Name, m.Epoch])) };
  };
  before(async () => {
    process.stderr.write(`      seed ${rnd.seed}\n`);
    a = await steadyAdversaryLab(rnd.seed);
    await a.crash('hvb');
    await waitRunning(a, { vm1: 'hva', vm2: 'hva' }, 'both VMs on hva', 60_000);
    const h = a.lab.Hosts.find((x) => x.Name === 'hva')!;
    hvaAddress = { host: h.Address, port: h.Port };
    // Settled: vm2 taken over, vm1's epoch bumped (its peer is gone).
    for (let i = 0; i < 40; i++) {
      before0 = await snapshot();
      if (Object.values(before0.states).every((s) => s === 'ALONE')) break;
      await sleep(250);
    }
    expect(before0.states).to.deep.equal({ vm1: 'ALONE', vm2: 'ALONE' });
  });
  after(async () => a?.cleanup());

  it('4a. an unpinned client (its own certificate) that says hello as hvb and sends requests is refused before any frame is answered', async () => {
    const stranger = await rawPeer(createHostIdentity('stranger'), hvaAddress.port, hvaAddress.host);
    stranger.control(hello('hvb'));
    stranger.control({ kind: 'request', id: 1, type: 'agent.heartbeat', body: { host: 'hvb', modules: [] } });
    stranger.control({ kind: 'request', id: 2, type: 'cycle.begin', body: { module: 'vm1', epoch: 1_000_000, disks: [{ name: 'x', sizeBytes: 1 }], blockSize: 1 } });
    expect(await closedWithin(stranger, 10_000), 'the agent closed the connection').to.equal(true);
    expect(stranger.frames, 'frames the agent sent the stranger').to.have.length(0);
    const refused = (await a.logLines('hva-agent')).filter((l) => l.event === 'refused' && l.reason === 'unpinned-certificate');
    expect(refused.length, "hva's log names the refusal").to.be.at.least(1);
  });

  it('4b. a client that sends noise instead of TLS is dropped at once', async () => {
    const noise = Buffer.from(Array.from({ length: 4096 }, () => rnd.int(0, 255)));
    const sock = netConnect({ host: hvaAddress.host, port: hvaAddress.port });
    sock.on('error', () => undefined);
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    let answered = 0;
    sock.on('data', (d: Buffer) => (answered += d.length));
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write(noise);
    expect(await Promise.race([closed.then(() => true), sleep(10_000).then(() => false)]), 'connection closed').to.equal(true);
    // A TLS alert at most: nothing of the peer protocol.
    expect(answered).to.be.below(64);
  });

  it('4c. the pinned peer (hvb\'s key): a malformed heartbeat is refused by its schema; cycle.begin with a stale or a future epoch is refused with STALE_EPOCH; at the current epoch, MODULE_NOT_SECONDARY (hva runs it)', async () => {
    const cfg = a.configDir('hvb');
    const identity = { keyPem: await readFile(join(cfg, 'identity', 'host.key'), 'utf8'), certPem: await readFile(join(cfg, 'identity', 'host.crt'), 'utf8'), fingerprint: a.lab.Hosts.find((x) => x.Name === 'hvb')!.CertificateFingerprint };
    const p = await rawPeer(identity, hvaAddress.port, hvaAddress.host);
    p.control(hello('hvb'));
    await p.next('hello');
    const e = before0.epochs as Record<string, number>;
    const disks = [{ name: 'vm2.vhdx', sizeBytes: 8 * 1024 * 1024 }];
    const sent: Array<[number, string, unknown]> = [
      [1, 'agent.heartbeat', { host: 'hvb', modules: 'all of them', cluster: { modules: { vm1: { state: 'PRIM', epoch: -1 } } } }],
      [2, 'cycle.begin', { module: 'vm2', epoch: e.vm2! - 1, disks, blockSize: 1024 * 1024 }],
      [3, 'cycle.begin', { module: 'vm2', epoch: e.vm2! + 1000, disks, blockSize: 1024 * 1024 }],
      [4, 'cycle.begin', { module: 'vm1', epoch: 0, disks, blockSize: 1024 * 1024 }],
      [5, 'cycle.begin', { module: 'vm2', epoch: e.vm2!, disks, blockSize: 1024 * 1024 }],
    ];
    for (const [id, type, body] of sent) p.control({ kind: 'request', id, type, body });
    const answers: Record<number, Record<string, unknown>> = {};
    for (const [id] of sent) answers[id] = await replyTo(p, id);
    p.socket.destroy();
    const codes = Object.fromEntries(Object.entries(answers).map(([id, r]) => [id, `${r.kind} ${String(r.code)}`]));
    expect(codes).to.deep.equal({ 1: 'reply-error PEER_PROTOCOL', 2: 'reply-error STALE_EPOCH', 3: 'reply-error STALE_EPOCH', 4: 'reply-error STALE_EPOCH', 5: 'reply-error MODULE_NOT_SECONDARY' });
    await sleep(1500);
    expect(await snapshot(), "hva's states and epochs after the attempts").to.deep.equal(before0);
    expect(a.sampler.runningNow(a.vmOf('vm1'))).to.deep.equal(['hva']);
    expect(a.sampler.runningNow(a.vmOf('vm2'))).to.deep.equal(['hva']);
  });

  it('afterwards hvb returns: resync, failback, every copy verifies', async () => {
    await a.start('hvb');
    await waitSteady(a, 'hvb back', 90_000);
    await sleep(1500);
    await expectSafe(a, 'wire');
  });
});
