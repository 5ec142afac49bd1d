import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { PeerClient } from '../../src/peer/client';
import { PeerServer } from '../../src/peer/server';
import type { PeerConnection } from '../../src/peer/connection';
import { followEvents } from '../helpers/harness-process';
import { logSink } from '../helpers/log-sink';
import { createNetnsLab, netnsAvailable, requireNetnsOrSkip, type NetnsLab } from '../helpers/netns';
import { identities } from '../helpers/peer-pair';
import { tempDir } from '../helpers/tmp';
import type { HarnessConfig } from './fixtures/peer-harness';

const HARNESS = resolve(__dirname, 'fixtures/peer-harness.ts');
const ROOT = resolve(__dirname, '../..');
const nodeArgs = (cfgPath: string): string[] => ['-r', 'ts-node/register', HARNESS, cfgPath];
const env = { ...process.env, TS_NODE_TRANSPILE_ONLY: 'true' };

function harnessConfig(o: Partial<HarnessConfig> & Pick<HarnessConfig, 'role' | 'hostName' | 'host' | 'port'>): HarnessConfig {
  const ids = identities();
  return {
    identity: o.hostName === 'a' ? ids.a : ids.b,
    pinned: o.hostName === 'a' ? [{ name: 'b', fingerprint: ids.b.fingerprint }] : [{ name: 'a', fingerprint: ids.a.fingerprint }],
    heartbeatIntervalMs: 200,
    peerLostTimeoutMs: 1000,
    ...o,
  };
}

describe('src/peer/client', function () {
  this.timeout(40_000);
  let tmp: { dir: string; cleanup: () => Promise<void> };
  const children: ChildProcess[] = [];
  beforeEach(async () => (tmp = await tempDir('vmmirror-peer-')));
  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await tmp.cleanup();
  });

  it('declares a SIGSTOPped peer lost within the heartbeat timeout, and reconnects after SIGCONT', async () => {
    const cfgPath = join(tmp.dir, 'server.json');
    writeFileSync(cfgPath, JSON.stringify(harnessConfig({ role: 'server', hostName: 'a', host: '127.0.0.1', port: 0 })));
    const server = spawn(process.execPath, nodeArgs(cfgPath), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(server);
    const serverEvents = followEvents(server, 'server');
    const { port } = (await serverEvents.waitFor((e) => e.event === 'listening', 15_000, 'listening')) as { port: number };
    const ids = identities();
    const log = logSink();
    const client = new PeerClient({
      hostName: 'b',
      identity: ids.b,
      pinned: [{ name: 'a', fingerprint: ids.a.fingerprint }],
      expectPeer: 'a',
      host: '127.0.0.1',
      port,
      heartbeatIntervalMs: 200,
      peerLostTimeoutMs: 1000,
      connectTimeoutMs: 800,
      reconnectMinMs: 100,
      reconnectMaxMs: 400,
      logger: log.logger,
    });
    try {
      client.start();
      const first = await client.connected(10_000);
      const lost = new Promise<{ conn: PeerConnection; reason: string; at: number }>((r) => client.once('peer-lost', (conn, reason) => r({ conn, reason, at: Date.now() })));
      const stoppedAt = Date.now();
      server.kill('SIGSTOP');
      const l = await lost;
      expect(l.conn).to.equal(first);
      expect(l.reason).to.equal('peer-lost');
      expect(l.at - stoppedAt).to.be.within(900, 3000);
      expect(log.find({ event: 'peer-lost' })).to.have.length(1);
      const up = new Promise<PeerConnection>((r) => client.once('peer-up', r));
      server.kill('SIGCONT');
      const second = await up;
      expect(second).to.not.equal(first);
      expect(second.sessionId).to.not.equal(first.sessionId);
      await serverEvents.waitFor((e) => e.event === 'peer-up' && e.session === second.sessionId, 5000, 'server peer-up on the new session');
    } finally {
      await client.close();
    }
  });

  it('keeps retrying until the server appears, then stops for good at close()', async () => {
    const ids = identities();
    const probe = createNetServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const log = logSink();
    const client = new PeerClient({ hostName: 'b', identity: ids.b, pinned: [{ name: 'a', fingerprint: ids.a.fingerprint }], expectPeer: 'a', host: '127.0.0.1', port, reconnectMinMs: 50, reconnectMaxMs: 200, logger: log.logger });
    const server = new PeerServer({ hostName: 'a', identity: ids.a, pinned: [{ name: 'b', fingerprint: ids.b.fingerprint }], host: '127.0.0.1', port, logger: logSink().logger });
    try {
      client.start();
      await new Promise((r) => setTimeout(r, 600));
      const failedAttempts = log.find({ msg: 'connect attempt failed' }).length;
      expect(failedAttempts).to.be.within(2, 12); // backoff 50, 100, 200, 200 ... ms: about 5 in 600 ms
      await server.listen();
      const conn = await client.connected(3000);
      expect(conn.peerName).to.equal('a');
      await client.close();
      await new Promise((r) => setTimeout(r, 500));
      expect(server.connections()).to.deep.equal([]);
      expect(client.current()).to.equal(undefined);
    } finally {
      await client.close();
      await server.close();
    }
  });

  describe('across network namespaces', function () {
    let lab: NetnsLab | undefined;
    before(function () {
      // Namespaces need root and iproute2: CI has both, so there a missing one is a failure.
      if (!netnsAvailable()) requireNetnsOrSkip(this);
    });
    afterEach(() => lab?.cleanup());

    it('carries requests between two processes in two namespaces, survives a cut link, and notices SIGKILL', async () => {
      lab = createNetnsLab(2);
      const [h1, h2] = lab.hosts as [typeof lab.hosts[0], typeof lab.hosts[0]];
      const port = 7411;
      const sCfg = join(tmp.dir, 's.json');
      const cCfg = join(tmp.dir, 'c.json');
      writeFileSync(sCfg, JSON.stringify(harnessConfig({ role: 'server', hostName: 'a', host: h1.address, port })));
      writeFileSync(cCfg, JSON.stringify(harnessConfig({ role: 'client', hostName: 'b', host: h1.address, port, expectPeer: 'a', pingEveryMs: 100 })));
      const server = lab.spawnIn(h1, process.execPath, nodeArgs(sCfg), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      const sEv = followEvents(server, 'server@h1');
      await sEv.waitFor((e) => e.event === 'listening', 15_000, 'listening');
      const client = lab.spawnIn(h2, process.execPath, nodeArgs(cCfg), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      const cEv = followEvents(client, 'client@h2');
      await cEv.waitFor((e) => e.event === 'peer-up', 15_000, 'peer-up');
      await sEv.waitFor((e) => e.event === 'peer-up' && e.peer === 'b', 5000, 'server peer-up');
      await cEv.waitFor((e) => e.event === 'pong' && e.host === 'a', 5000, 'a pong from h1');

      // Partition: both sides declare the other lost by heartbeat timeout.
      const cutAt = Date.now();
      lab.partition(h2);
      const cLost = await cEv.waitFor((e) => e.event === 'peer-lost' && (e.at as number) >= cutAt, 6000, 'client peer-lost');
      const sLost = await sEv.waitFor((e) => e.event === 'peer-lost' && (e.at as number) >= cutAt, 6000, 'server peer-lost');
      expect(cLost.reason).to.equal('peer-lost');
      expect(sLost.reason).to.equal('peer-lost');
      expect((cLost.at as number) - cutAt).to.be.within(900, 3500);

      // Heal: the client reconnects and pings flow again.
      const healAt = Date.now();
      lab.heal(h2);
      await cEv.waitFor((e) => e.event === 'peer-up' && (e.at as number) >= healAt, 8000, 'client peer-up after heal');
      await sEv.waitFor((e) => e.event === 'peer-up' && (e.at as number) >= healAt, 8000, 'server peer-up after heal');
      await cEv.waitFor((e) => e.event === 'pong' && (e.at as number) >= healAt, 5000, 'pong after heal');

      // SIGKILL of the server process: the client notices at once (the kernel closes the socket).
      const killAt = Date.now();
      server.kill('SIGKILL');
      const killed = await cEv.waitFor((e) => e.event === 'peer-lost' && (e.at as number) >= killAt, 3000, 'client peer-lost after SIGKILL');
      expect(killed.reason).to.be.oneOf(['remote-close', 'socket-error', 'peer-lost']);
      expect((killed.at as number) - killAt).to.be.below(1500);
    });
  });
});
