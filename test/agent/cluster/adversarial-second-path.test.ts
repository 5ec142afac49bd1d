import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { startSecondaryHeartbeats } from '../../../src/agent/cluster/peer-sync';
import { ClusterRuntime } from '../../../src/agent/cluster/runtime';
import { createLink } from '../../../src/agent/link';
import { AgentHeartbeat, CycleBegin, CycleResult, HandoverRequest, ManifestFetch, ResyncRequest, SwitchoverAsk, VmConfigCommit, VmConfigPart } from '../../../src/agent/messages';
import { initialSnapshot, step, type ClusterSnapshot, type Effect } from '../../../src/cluster';
import { DEFAULT_LEASE_TIMINGS } from '../../../src/cluster/lease';
import type { LoadedConfig } from '../../../src/config';
import { HostEntry } from '../../../src/config/cluster';
import { componentLogger } from '../../../src/log';
import { PeerClient } from '../../../src/peer/client';
import { defineRequest } from '../../../src/peer/request';
import { identities } from '../../helpers/peer-pair';
import { rawPeer } from '../../helpers/raw-peer';
import { seeded } from '../../helpers/seed';
import { tempDir } from '../../helpers/tmp';

// Adversarial review of the second heartbeat path (Hosts[].SecondaryAddress): the link the agent
// builds from its config (createLink) and the handlers it registers there (startSecondaryHeartbeats),
// attacked on loopback by the pinned peer's own key speaking anything but heartbeats, and by a
// stranger; then, with two step() machines, only the second path alive for a long time and a
// second path that flaps.

const log = componentLogger('test');
const SETTINGS = { ...DEFAULT_LEASE_TIMINGS, peerTimeoutMs: 5000, witness: true, failbackStableMs: 30000, retryMs: 500 };

async function freePort(host: string): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, host, r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function snapshot(self: string, peer: string, now = 0): ClusterSnapshot {
  return initialSnapshot({
    self,
    peerName: peer,
    settings: SETTINGS,
    now,
    modules: [{ name: 'web', defaultPrimary: 'a', failback: 'manual', fenceMode: 'TurnOff' }],
    records: { web: { Version: 1, Module: 'web', State: self === 'a' ? 'PRIM' : 'SECOND', WaitReason: null, Epoch: 3, Owner: 'a', Generation: 10 } },
    vms: { web: self === 'a' ? 'running' : 'off' },
    lease: self === 'a' ? { fromPeerUntil: now + 3000, fromWitnessUntil: null } : undefined,
  });
}

describe('adversarial: the second heartbeat path', function () {
  this.timeout(30_000);
  const rng = seeded('adversarial second path');
  before(() => void process.stderr.write(`      seed ${rng.seed}\n`));

  it('carries heartbeats only: the pinned peer\'s own key asking for a cycle, a resync, a handover, a switchover, a manifest or a config, or sending a stream, is refused and changes nothing; a stranger is dropped', async () => {
    const ids = identities();
    const t = await tempDir('vmmirror-adv-second-');
    const keyPath = join(t.dir, 'a.key');
    const certificatePath = join(t.dir, 'a.crt');
    await writeFile(keyPath, ids.a.keyPem);
    await writeFile(certificatePath, ids.a.certPem);
    const port = await freePort('127.0.0.2');
    const config = {
      self: { Name: 'a', Address: '127.0.0.1', Port: await freePort('127.0.0.1'), SecondaryAddress: '127.0.0.2', SecondaryPort: port },
      peer: { Name: 'b', Address: '127.0.0.1', Port: await freePort('127.0.0.1'), CertificateFingerprint: ids.b.fingerprint },
      agent: { HeartbeatIntervalMs: 200, PeerLossTimeoutMs: 1000, BandwidthLimitBytesPerSecond: null },
      keyPath,
      certificatePath,
    } as unknown as LoadedConfig;
    const link = await createLink(config);
    expect(link.secondary?.server, 'a listens on its SecondaryAddress').to.not.equal(null);
    const effects: Effect[] = [];
    const rt = new ClusterRuntime(snapshot('a', 'b', performance.now()), { effects: (e) => effects.push(...e), changed: () => undefined }, log, () => performance.now());
    const stop = await startSecondaryHeartbeats({ link: link.secondary, rt, intervalMs: 200, host: 'a', summaries: () => [], onPeerBody: () => undefined, log });
    const mallory = new PeerClient({ hostName: 'b', identity: ids.b, pinned: [{ name: 'a', fingerprint: ids.a.fingerprint }], expectPeer: 'a', host: '127.0.0.2', port, reconnectMinMs: 50, reconnectMaxMs: 200, logger: log });
    try {
      mallory.start();
      const conn = await mallory.connected(5000);
      // The path works: a heartbeat is answered.
      const hb = await conn.request(AgentHeartbeat, { host: 'b', sentAt: new Date().toISOString(), modules: [] }, { timeoutMs: 5000 });
      expect(hb.host).to.equal('a');
      const before = JSON.stringify(rt.snapshot.modules);
      for (const def of [CycleBegin, CycleResult, ResyncRequest, HandoverRequest, SwitchoverAsk, ManifestFetch, VmConfigPart, VmConfigCommit]) {
        // Any body at all: the refusal must come before the body is looked at.
        const raw = defineRequest(def.type, z.unknown(), z.unknown());
        const err = await conn.request(raw, { module: 'web', epoch: 3, whatIf: false, generation: rng.int(1, 100) }, { timeoutMs: 5000 }).then(
          () => null,
          (e: Error & { code?: string }) => e,
        );
        expect(err?.code, def.type).to.equal('PEER_PROTOCOL');
        expect(err?.message, def.type).to.match(/no handler for request type/);
      }
      // A stream under an id a never issued.
      const sent = await conn.sendStream('not-issued', Readable.from([Buffer.alloc(1024)]), {}).then(
        () => 'accepted',
        () => 'refused',
      );
      expect(sent).to.equal('refused');
      expect(JSON.stringify(rt.snapshot.modules), 'nothing changed').to.equal(before);
      // No command came of it (the machine's own confirmation of its epoch aside).
      expect(effects.filter((e) => ['failback', 'resync', 'start-vm', 'stop-vm', 'promote-replica', 'fence'].includes(e.type)), 'no command').to.deep.equal([]);
      // A stranger (a key nobody pinned) is dropped before any frame is answered.
      const stranger = await rawPeer(ids.stranger, port, '127.0.0.2');
      stranger.control({ kind: 'hello', host: 'b', version: 1 });
      await stranger.closed;
      expect(stranger.frames.filter((f) => f.type === 'control').map((f) => JSON.parse(f.payload.toString('utf8')).kind)).to.not.include('reply');
    } finally {
      await mallory.close();
      stop();
      rt.stop();
      await link.close();
      await t.cleanup();
    }
  });

  it('a SecondaryAddress that is the Address written another way (case, a trailing dot, an IPv6 or IPv4 spelling) is refused: it is no second network', () => {
    const host = (Address: string, SecondaryAddress: string) => HostEntry.safeParse({ Name: 'hva', Address, SecondaryAddress, CertificateFingerprint: 'AA'.repeat(32) });
    for (const [a, b] of [['hva.lan', 'HVA.lan'], ['hva.lan', 'hva.lan.'], ['::1', '0:0:0:0:0:0:0:1'], ['fe80::1', 'FE80:0::1'], ['10.0.0.1', '10.000.000.001']]) {
      const r = host(a!, b!);
      expect(r.success, `${a} / ${b}`).to.equal(false);
      expect(r.error?.issues.map((i) => [i.path.join('.'), i.message]), `${a} / ${b}`).to.deep.equal([['SecondaryAddress', 'SecondaryAddress must differ from Address (a second network)']]);
    }
    for (const [a, b] of [['10.0.0.1', '10.1.0.1'], ['hva.lan', 'hva-hb.lan'], ['fe80::1', 'fe80::2']]) expect(host(a!, b!).success, `${a} / ${b}`).to.equal(true);
  });

  /** Runs both machines over `ms` in 100 ms steps; `paths(t)`: which heartbeat paths carry at t. */
  function run(ms: number, paths: (t: number) => ('primary' | 'secondary')[]) {
    let a = snapshot('a', 'b');
    let b = snapshot('b', 'a');
    const starts: string[] = [];
    let fencedA = false;
    const aLog: string[] = [];
    let both = false;
    for (let t = 100; t <= ms; t += 100) {
      const carry = t % 500 === 0 ? paths(t) : [];
      for (const side of ['a', 'b'] as const) {
        let s = side === 'a' ? a : b;
        const other = side === 'a' ? b : a;
        const peer = Object.fromEntries(Object.entries(other.modules).map(([n, m]) => [n, { state: m.state, epoch: m.epoch, owner: m.owner, generation: m.generation, vm: m.vm }]));
        const events = carry.length === 0 ? [{ type: 'tick' as const, now: t }] : carry.map((path) => ({ type: 'peer-heartbeat' as const, now: t, path, modules: peer, answer: { askedAt: t - 1, grantedMs: SETTINGS.leaseMs } }));
        const queue: Parameters<typeof step>[1][] = [...events];
        for (let e = queue.shift(); e !== undefined; e = queue.shift()) {
          const r = step(s, e);
          s = r.next;
          for (const f of r.effects) {
            // Each effect finishes at once (the model's hypervisor is instant).
            if (f.type === 'fence' || f.type === 'start-vm' || f.type === 'stop-vm' || f.type === 'promote-replica') queue.push({ type: 'effect-done', now: t, module: f.module, effect: f.type });
            if (f.type === 'start-vm' || (f.type === 'claim-epoch' && f.kind === 'takeover')) starts.push(`${side}:${f.type}@${t}`);
            if (side === 'a' && f.type === 'fence') fencedA = true;
            if (side === 'a' && (f.type === 'fence' || f.type === 'start-vm')) aLog.push(`${f.type}@${t}`);
          }
        }
        if (side === 'a') a = s;
        else b = s;
      }
      if (a.modules.web!.vm === 'running' && (b.modules.web!.vm === 'running' || b.modules.web!.vm === 'starting')) both = true;
    }
    return { starts, fencedA, both, b, a, aLog };
  }

  it('only the second path alive for ten minutes: no takeover is ever asked, the owner keeps its lease and its VM', () => {
    const r = run(600_000, () => ['secondary']);
    expect(r.starts).to.deep.equal([]);
    expect(r.fencedA).to.equal(false);
    expect(r.both).to.equal(false);
  });

  it('a second path that flaps (primary cut): gaps inside the owner\'s lease lose nothing; a gap past the lease but short of the peer timeout fences the owner and it starts again (no takeover); a longer one without a witness\'s grant starts nothing on the replica; never both running', () => {
    // Seeded flaps of 0.5 to 2.4 s (with 500 ms heartbeats the silence stays under the 3.5 s the
    // owner may run on one grant), each after up to 3 s of heartbeats.
    const gaps: [number, number][] = [];
    for (let t = 2000; t < 120_000; ) {
      const from = t + rng.int(0, 3000);
      const to = from + rng.int(500, 2400);
      gaps.push([from, to]);
      t = to + 500;
    }
    const short = run(120_000, (t) => (gaps.some(([f, u]) => t >= f && t < u) ? [] : ['secondary']));
    expect({ starts: short.starts, a: short.aLog }, JSON.stringify(gaps.slice(0, 5))).to.deep.equal({ starts: [], a: [] });
    // 4.5 s of silence: past the owner's lease (it fences: C1 before availability), short of the
    // peer timeout (the replica does not take over); the owner starts it again when heard.
    const middle = run(30_000, (t) => (t >= 10_000 && t < 14_500 ? [] : ['secondary']));
    expect(middle.aLog).to.deep.equal(['fence@13000', 'start-vm@14500']);
    expect(middle.starts.filter((x) => x.startsWith('b:'))).to.deep.equal([]);
    expect(middle.both).to.equal(false);
    const long = run(30_000, (t) => (t >= 10_000 && t < 20_000 ? [] : ['secondary']));
    // Without a witness's grant (none in this model) the replica never may run: nothing starts on b.
    expect(long.starts.filter((x) => x.startsWith('b:'))).to.deep.equal([]);
    expect(long.aLog).to.deep.equal(['fence@13000', 'start-vm@20000']);
    expect(long.both).to.equal(false);
  });
});
