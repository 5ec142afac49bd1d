import { expect } from 'chai';
import { connect as netConnect, type Socket } from 'node:net';
import { PeerClient } from '../../src/peer/client';
import { PeerServer } from '../../src/peer/server';
import type { PeerServerOptions } from '../../src/peer/types';
import { logSink, type LogLine } from '../helpers/log-sink';
import { identities } from '../helpers/peer-pair';
import { rawPeer } from '../helpers/raw-peer';

// Admission of unauthenticated sockets (src/peer/admission.ts) on loopback: every 127.0.0.0/8
// address is local on Linux, so one process can play many source addresses.

interface Silent {
  socket: Socket;
  closed: Promise<void>;
  isClosed: () => boolean;
}

/** A TCP client from `localAddress` that connects and then says nothing. */
function silent(port: number, localAddress: string): Promise<Silent> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port, localAddress });
    let closedFlag = false;
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    void closed.then(() => (closedFlag = true));
    socket.once('connect', () => resolve({ socket, closed, isClosed: () => closedFlag }));
    socket.once('error', reject);
    socket.on('error', () => undefined);
  });
}

/** Waits (re-checking every 10 ms) until `cond` holds; fails with `what` after `timeoutMs`. */
async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Refusals of connections from `address` counted by the log: full lines plus summary counts. */
function accounted(lines: LogLine[], address: string, reason?: string): number {
  let n = 0;
  for (const l of lines) {
    if (l.scope !== 'connection' || l.remoteAddress !== address) continue;
    if (l.event === 'refused' && (reason === undefined || l.reason === reason)) n++;
    if (l.event === 'refused-summary') {
      for (const [r, c] of Object.entries(l.counts as Record<string, number>)) if (reason === undefined || r === reason) n += c;
    }
  }
  return n;
}

describe('src/peer/admission (unauthenticated sockets)', function () {
  this.timeout(30_000);
  const ids = identities();
  const open: Socket[] = [];
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const s of open.splice(0)) s.destroy();
    for (const c of closers.splice(0)) await c();
  });

  async function server(o: Partial<PeerServerOptions> = {}): Promise<{ server: PeerServer; port: number; log: ReturnType<typeof logSink> }> {
    const log = logSink();
    const s = new PeerServer({
      hostName: 'a',
      identity: ids.a,
      pinned: [
        { name: 'b', fingerprint: ids.b.fingerprint },
        { name: 'mallory', fingerprint: ids.mallory.fingerprint },
      ],
      host: '127.0.0.1',
      port: 0,
      preAuthTimeoutMs: 20_000,
      refusalLogIntervalMs: 60_000,
      ...o,
      logger: log.logger,
    });
    const { port } = await s.listen();
    closers.push(() => s.close());
    return { server: s, port, log };
  }

  async function silents(port: number, addresses: string[]): Promise<Silent[]> {
    const out: Silent[] = [];
    for (const a of addresses) {
      const s = await silent(port, a);
      open.push(s.socket);
      out.push(s);
    }
    return out;
  }

  /** A client "b" like the agent's; resolves with the time from start() to peer-up. */
  function peerB(port: number): { client: PeerClient; up: Promise<number> } {
    const client = new PeerClient({ hostName: 'b', identity: ids.b, pinned: [{ name: 'a', fingerprint: ids.a.fingerprint }], expectPeer: 'a', host: '127.0.0.1', port, reconnectMinMs: 100, reconnectMaxMs: 500, connectTimeoutMs: 1000, logger: logSink().logger });
    closers.unshift(() => client.close());
    const started = performance.now();
    client.start();
    return { client, up: client.connected(8000).then(() => performance.now() - started) };
  }

  it('holds at most maxPreAuthPerSource unauthenticated sockets per source address', async () => {
    const { server: s, port, log } = await server({ maxPreAuthSockets: 16, maxPreAuthPerSource: 4 });
    const socks = await silents(port, Array(6).fill('127.0.0.2'));
    await Promise.all([socks[4]!.closed, socks[5]!.closed]);
    expect(socks.slice(0, 4).map((x) => x.isClosed())).to.deep.equal([false, false, false, false]);
    expect(s.stats().preAuth).to.equal(4);
    expect(s.stats().refused['source-limit']).to.equal(2);
    // Another source is not affected by the first one's limit.
    await silents(port, ['127.0.0.3', '127.0.0.3']);
    await until(() => s.stats().preAuth === 6, 'two more admitted');
    await s.close();
    expect(log.find({ event: 'refused', reason: 'source-limit', remoteAddress: '127.0.0.2' })).to.have.length(1);
    expect(accounted(log.lines, '127.0.0.2', 'source-limit')).to.equal(2);
    expect(accounted(log.lines, '127.0.0.3')).to.equal(0);
  });

  it('when full, evicts the oldest socket of the heaviest source for a lighter one, and refuses when all are equal', async () => {
    const { server: s, port, log } = await server({ maxPreAuthSockets: 8, maxPreAuthPerSource: 4 });
    const heavy = await silents(port, [...Array(4).fill('127.0.0.2'), ...Array(4).fill('127.0.0.3')]);
    await until(() => s.stats().preAuth === 8, 'eight admitted');
    await silents(port, ['127.0.0.4']);
    await heavy[0]!.closed; // the oldest of the first heaviest source
    expect(heavy.slice(1).some((x) => x.isClosed())).to.equal(false);
    expect(log.find({ event: 'refused', reason: 'evicted', remoteAddress: '127.0.0.2' })).to.have.length(1);
    await s.close();

    // Eight sources of one socket each: nobody is heavier, so a ninth source is refused.
    const second = await server({ maxPreAuthSockets: 8, maxPreAuthPerSource: 4 });
    await silents(second.port, ['2', '3', '4', '5', '6', '7', '8', '9'].map((i) => `127.0.0.${i}`));
    await until(() => second.server.stats().preAuth === 8, 'eight admitted');
    const ninth = await silents(second.port, ['127.0.0.10']);
    await ninth[0]!.closed;
    expect(second.log.find({ event: 'refused', reason: 'pre-auth-full', remoteAddress: '127.0.0.10' })).to.have.length(1);
  });

  it('always admits the configured peer address, and an address a pinned peer authenticated from', async () => {
    const fill = ['2', '3', '4', '5', '6', '7', '8', '9'].map((i) => `127.0.0.${i}`);
    // Control: not preferred, the real peer is kept out by eight one-socket strangers.
    const control = await server({ maxPreAuthSockets: 8, maxPreAuthPerSource: 4 });
    await silents(control.port, fill);
    await until(() => control.server.stats().preAuth === 8, 'eight admitted');
    const outsider = peerB(control.port);
    await until(() => control.log.find({ event: 'refused', reason: 'pre-auth-full', remoteAddress: '127.0.0.1' }).length > 0, 'b refused');
    expect(outsider.client.current()).to.equal(undefined);
    await outsider.client.close();
    void outsider.up.catch(() => undefined);

    // Configured: admitted at once, the oldest stranger makes room.
    const configured = await server({ maxPreAuthSockets: 8, maxPreAuthPerSource: 4, preferredAddresses: ['127.0.0.1'] });
    const strangers = await silents(configured.port, fill);
    await until(() => configured.server.stats().preAuth === 8, 'eight admitted');
    const ms = await peerB(configured.port).up;
    expect(ms, 'first attempt succeeds').to.be.below(1000);
    expect(strangers[0]!.isClosed()).to.equal(true);
    expect(configured.log.find({ event: 'refused', reason: 'evicted', remoteAddress: '127.0.0.2' })).to.have.length(1);

    // Learned: b authenticated once from 127.0.0.1; after it left and the server filled up, it gets back in.
    const learned = await server({ maxPreAuthSockets: 8, maxPreAuthPerSource: 4 });
    const first = peerB(learned.port);
    await first.up;
    await first.client.close();
    await until(() => learned.server.connections().length === 0, 'b gone');
    await silents(learned.port, fill);
    await until(() => learned.server.stats().preAuth === 8, 'eight admitted');
    expect(await peerB(learned.port).up).to.be.below(1000);
    expect(learned.server.connection('b')).to.not.equal(undefined);
  });

  it('drops a socket that has not completed its hello preAuthTimeoutMs after accept, TLS included', async () => {
    const { server: s, port, log } = await server({ preAuthTimeoutMs: 400, helloTimeoutMs: 5000 });
    const started = performance.now();
    const [plain] = await silents(port, ['127.0.0.2']);
    // A pinned identity that completes TLS and then never sends its hello.
    const m = await rawPeer(ids.mallory, port);
    await Promise.all([plain!.closed, m.closed]);
    expect(performance.now() - started).to.be.within(350, 3000);
    expect(log.find({ event: 'refused', reason: 'pre-auth-timeout', remoteAddress: '127.0.0.2' })).to.have.length(1);
    expect(log.find({ event: 'refused', reason: 'pre-auth-timeout', remoteAddress: '127.0.0.1' })).to.have.length(1);
    expect(s.stats().preAuth).to.equal(0);
  });

  it('logs the first refusal of each reason per source in full and counts the rest in one summary line', async () => {
    const { server: s, port, log } = await server();
    for (let i = 0; i < 30; i++) {
      const sock = netConnect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
      sock.on('error', () => undefined);
      sock.write('GET / HTTP/1.1\r\n\r\n');
      await new Promise((r) => sock.once('close', r));
    }
    expect(s.stats().refused['tls-handshake-failed']).to.equal(30);
    expect(log.find({ event: 'refused', remoteAddress: '127.0.0.2' })).to.have.length(1);
    expect(log.find({ event: 'refused-summary' })).to.have.length(0); // not before the interval ends
    await s.close(); // flushes the interval
    const [summary] = log.find({ event: 'refused-summary', remoteAddress: '127.0.0.2' });
    expect(summary).to.include({ total: 29, level: 40 });
    expect(summary!.counts).to.deep.equal({ 'tls-handshake-failed': 29 });
    expect(accounted(log.lines, '127.0.0.2')).to.equal(30);
  });
});
