import { expect } from 'chai';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Server as NetServer, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { PeerClient } from '../../src/peer/client';
import { followEvents } from '../helpers/harness-process';
import { logSink } from '../helpers/log-sink';
import { connectedPair, identities, type Pair } from '../helpers/peer-pair';
import { tempDir } from '../helpers/tmp';
import type { HarnessConfig } from './fixtures/peer-harness';

// Issue 7 item 14 (peer part): an 'error' on the peer server after listen() (EMFILE on accept, for
// example) must not crash the agent. Node emits it on the listening socket; with no listener that
// is an uncaught exception.

const ROOT = resolve(__dirname, '../..');
const HARNESS = resolve(__dirname, 'fixtures/peer-harness.ts');
const env = { ...process.env, TS_NODE_TRANSPILE_ONLY: 'true' };

/** The server's listening socket (private: the test plays the kernel reporting an error on it). */
const listenerOf = (pair: Pair): NetServer => (pair.server as unknown as { listener: NetServer }).listener;

function errnoError(code: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${syscall} ${code}`), { code, errno: -24, syscall });
}

describe('src/peer/server: errors after listen', function () {
  this.timeout(60_000);
  let pair: Pair | undefined;
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await pair?.close();
    pair = undefined;
  });

  it('logs an accept error with its code and keeps serving: the connected peer stays, a new one gets in', async () => {
    pair = await connectedPair();
    const seen: string[] = [];
    pair.server.on('listener-error', (err: NodeJS.ErrnoException) => seen.push(err.code!));
    listenerOf(pair).emit('error', errnoError('EMFILE', 'accept'));
    listenerOf(pair).emit('error', errnoError('EMFILE', 'accept'));
    expect(seen).to.deep.equal(['EMFILE', 'EMFILE']);
    expect(pair.server.stats().listenerErrors).to.deep.equal({ EMFILE: 2 });
    expect(pair.server.isListening).to.equal(true);
    const [line] = pair.serverLog.find({ event: 'refused', reason: 'accept-error' });
    expect(line).to.include({ code: 'EMFILE', syscall: 'accept', remoteAddress: '(listener)', level: 40 });
    // Still serving: the live connection, and a fresh client.
    expect(pair.server.connection('b')).to.equal(pair.serverConn);
    await pair.client.close();
    const ids = identities();
    const again = new PeerClient({ hostName: 'b', identity: ids.b, pinned: [{ name: 'a', fingerprint: ids.a.fingerprint }], expectPeer: 'a', host: '127.0.0.1', port: pair.port, logger: logSink().logger });
    again.start();
    try {
      expect((await again.connected(5000)).peerName).to.equal('a');
    } finally {
      await again.close();
    }
  });

  it("surfaces a listener that is gone as 'listener-lost' (logged at error) instead of crashing", async () => {
    pair = await connectedPair();
    const lost: Array<NodeJS.ErrnoException> = [];
    pair.server.on('listener-lost', (err: NodeJS.ErrnoException) => lost.push(err));
    const listener = listenerOf(pair);
    await new Promise<void>((r) => {
      listener.close(() => r()); // the listening socket goes away under the server...
      pair!.clientConn.close(); // (close() waits for open connections)
    });
    listener.emit('error', errnoError('EBADF', 'accept')); // ...and it reports why
    expect(lost.map((e) => e.code)).to.deep.equal(['EBADF']);
    expect(pair.server.isListening).to.equal(false);
    const [line] = pair.serverLog.find({ event: 'listener-lost' });
    expect(line).to.include({ code: 'EBADF', level: 50 });
  });

  it('a server process out of file descriptors stays up and serves the peer once descriptors are free again', async () => {
    // On Linux libuv absorbs EMFILE on accept (it closes a reserve descriptor, accepts and closes
    // the waiting connections, and reports nothing), so this is about surviving exhaustion; the
    // error path itself is proven by the two tests above.
    const tmp = await tempDir('vmmirror-emfile-');
    try {
      const ids = identities();
      const cfg: HarnessConfig = {
        role: 'server', hostName: 'a', identity: ids.a, pinned: [{ name: 'b', fingerprint: ids.b.fingerprint }], host: '127.0.0.1', port: 0,
        heartbeatIntervalMs: 200, peerLostTimeoutMs: 1000, logEvents: 'warn',
      };
      const path = join(tmp.dir, 'server.json');
      writeFileSync(path, JSON.stringify(cfg));
      const server = spawn(process.execPath, ['-r', 'ts-node/register', HARNESS, path], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(server);
      const ev = followEvents(server, 'server');
      const { port } = (await ev.waitFor((e) => e.event === 'listening', 30_000, 'listening')) as { port: number };
      const inUse = readdirSync(`/proc/${server.pid}/fd`).length;
      const setLimit = (n: number): string => execFileSync('prlimit', ['--pid', String(server.pid), `--nofile=${n}:`], { encoding: 'utf8' });
      setLimit(inUse + 2);
      const flood: Socket[] = [];
      const closedByServer: Array<Promise<void>> = [];
      for (let i = 0; i < 20; i++) {
        const s = netConnect({ host: '127.0.0.1', port });
        s.on('error', () => undefined);
        s.resume();
        flood.push(s);
        closedByServer.push(new Promise((r) => s.once('close', () => r())));
      }
      // Two at most are accepted (and dropped at their pre-auth deadline); the rest are closed at accept.
      await Promise.all(closedByServer);
      expect(server.exitCode, 'the server process is still running').to.equal(null);
      for (const s of flood) s.destroy();
      setLimit(4096);
      const client = new PeerClient({ hostName: 'b', identity: ids.b, pinned: [{ name: 'a', fingerprint: ids.a.fingerprint }], expectPeer: 'a', host: '127.0.0.1', port, reconnectMinMs: 100, reconnectMaxMs: 300, logger: logSink().logger });
      client.start();
      try {
        await client.connected(10_000);
        await ev.waitFor((e) => e.event === 'peer-up' && e.peer === 'b', 5000, 'server peer-up');
      } finally {
        await client.close();
      }
      expect(server.exitCode, 'the server process did not exit').to.equal(null);
      expect(ev.events.filter((e) => e.event === 'fatal')).to.deep.equal([]);
    } finally {
      await tmp.cleanup();
    }
  });
});
