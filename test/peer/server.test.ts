import { expect } from 'chai';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { VmmirrorError } from '../../src/errors';
import { PeerClient } from '../../src/peer/client';
import { encodeFrame, encodeHeader } from '../../src/peer/frame-codec';
import { defineRequest } from '../../src/peer/request';
import { PeerServer } from '../../src/peer/server';
import { logSink } from '../helpers/log-sink';
import { connectedPair, identities, type Pair } from '../helpers/peer-pair';
import { hello, rawPeer } from '../helpers/raw-peer';
import { seeded } from '../helpers/seed';

const Echo = defineRequest('echo', z.object({ text: z.string().max(100) }).strict(), z.object({ text: z.string() }).strict());
const Blob = defineRequest('blob', z.object({}).strict(), z.object({ data: z.string() }).strict());
const Hang = defineRequest('hang', z.object({}).strict(), z.object({}).strict());
const Grant = defineRequest('grant', z.object({}).strict(), z.object({ streamId: z.string() }).strict());

async function rejection(p: Promise<unknown>): Promise<VmmirrorError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(VmmirrorError);
    return err as VmmirrorError;
  }
  throw new Error('expected a rejection');
}

describe('src/peer/server', function () {
  this.timeout(20_000);
  let pair: Pair;
  let echoCalls: string[];
  let streamsSeen: number;
  beforeEach(async () => {
    pair = await connectedPair({ helloTimeoutMs: 1500 });
    echoCalls = [];
    streamsSeen = 0;
    pair.server.onRequest(Echo, (b, conn) => {
      echoCalls.push(conn.peerName);
      return { text: b.text };
    });
    pair.server.onRequest(Grant, (_b, conn) => ({ streamId: conn.issueStreamId() }));
    pair.server.onRequest(Blob, () => ({ data: 'x'.repeat(60_000) }));
    pair.server.onRequest(Hang, () => new Promise(() => undefined));
    pair.server.onStream((_id, readable) => {
      streamsSeen++;
      readable.on('error', () => undefined);
      readable.resume();
    });
  });
  afterEach(() => pair.close());

  /** After every attack the real peer is still served, on the same connection. */
  async function realPeerStillServed(): Promise<void> {
    const conn = pair.client.current();
    expect(conn, 'b is still connected').to.equal(pair.clientConn);
    expect(await pair.clientConn.request(Echo, { text: 'after' })).to.deep.equal({ text: 'after' });
    expect(pair.server.connection('b')).to.equal(pair.serverConn);
  }

  /** Frames decoded by connections other than b's live one. */
  function strangerFrames(): number {
    return pair.server.stats().framesReceived - pair.serverConn.framesReceived;
  }

  it('refuses a client whose valid certificate is not pinned before reading any frame', async () => {
    const before = strangerFrames();
    const stranger = await rawPeer(identities().stranger, pair.port);
    // It talks at once: a hello and a request, as if it were b.
    stranger.control(hello('b'));
    stranger.control({ kind: 'request', id: 1, type: 'echo', body: { text: 'let me in' } });
    await stranger.closed;
    const [line] = pair.serverLog.find({ event: 'refused', reason: 'unpinned-certificate' });
    expect(line, 'logged').to.exist;
    expect(line!.level).to.equal(40);
    expect(line!.fingerprint).to.equal(identities().stranger.fingerprint);
    expect(strangerFrames()).to.equal(before);
    expect(stranger.frames).to.have.length(0);
    expect(echoCalls).to.deep.equal([]);
    expect(pair.server.stats().refused['unpinned-certificate']).to.equal(1);
    await realPeerStillServed();
  });

  it('refuses a TLS client that presents no certificate', async () => {
    const socket = tlsConnect({ host: '127.0.0.1', port: pair.port, rejectUnauthorized: false });
    socket.on('error', () => undefined);
    await new Promise((r) => socket.once('close', r));
    expect(pair.serverLog.find({ event: 'refused' }).map((l) => l.reason)).to.satisfy((rs: unknown[]) =>
      rs.some((r) => r === 'no-client-certificate' || r === 'tls-handshake-failed'),
    );
    await realPeerStillServed();
  });

  it('refuses a plain TCP client speaking HTTP', async () => {
    const sock = netConnect(pair.port, '127.0.0.1');
    sock.on('error', () => undefined);
    sock.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    await new Promise((r) => sock.once('close', r));
    expect(pair.serverLog.find({ event: 'refused', reason: 'tls-handshake-failed' })).to.have.length(1);
    await realPeerStillServed();
  });

  it('refuses a pinned client that sends garbage after the TLS handshake', async () => {
    const m = await rawPeer(identities().mallory, pair.port);
    m.socket.write(Buffer.from('\x16\x03\x01 definitely not a frame, just noise........'));
    await m.closed;
    const [line] = pair.serverLog.find({ event: 'refused', reason: 'bad-magic' });
    expect(line).to.exist;
    expect(line!.peer).to.equal('mallory');
    await realPeerStillServed();
  });

  it('refuses a frame whose length exceeds the limit, without reading its payload', async () => {
    const m = await rawPeer(identities().mallory, pair.port);
    m.control(hello('mallory'));
    await m.next('hello');
    m.socket.write(encodeHeader('data', 1, 4 * 1024 * 1024 + 1));
    await m.closed;
    expect(pair.serverLog.find({ event: 'refused', reason: 'oversize', peer: 'mallory' })).to.have.length(1);
    await realPeerStillServed();
  });

  it('refuses control messages failing their schema: before hello, at the envelope, and in a request body', async () => {
    // 1. not a hello first
    const m1 = await rawPeer(identities().mallory, pair.port);
    m1.control({ kind: 'heartbeat', seq: 0, sentAt: 0 });
    await m1.closed;
    expect(pair.serverLog.find({ event: 'refused', reason: 'hello-expected' })).to.have.length(1);
    // 2. a hello with an extra field (strict) / a name other than the pinned one
    const m2 = await rawPeer(identities().mallory, pair.port);
    m2.control({ ...hello('mallory'), admin: true });
    await m2.closed;
    const m3 = await rawPeer(identities().mallory, pair.port);
    m3.control(hello('b'));
    await m3.closed;
    expect(pair.serverLog.find({ event: 'refused', reason: 'wrong-host-name' })).to.have.length(1);
    // 3. after a good hello: an unknown kind, then JSON that is not JSON
    const m4 = await rawPeer(identities().mallory, pair.port);
    m4.control(hello('mallory'));
    await m4.next('hello');
    m4.control({ kind: 'format-disk', path: 'C:\\' });
    await m4.closed;
    const m5 = await rawPeer(identities().mallory, pair.port);
    m5.control(hello('mallory'));
    await m5.next('hello');
    m5.socket.write(encodeFrame({ type: 'control', channel: 0, payload: Buffer.from('{"kind":') }));
    await m5.closed;
    expect(pair.serverLog.find({ event: 'refused', reason: 'schema' })).to.have.length(2);
    expect(pair.serverLog.find({ event: 'refused', reason: 'bad-json' })).to.have.length(1);
    // 4. a request whose body fails the request's schema: refused, but the connection stays
    const m6 = await rawPeer(identities().mallory, pair.port);
    m6.control(hello('mallory'));
    await m6.next('hello');
    m6.control({ kind: 'request', id: 1, type: 'echo', body: { text: 'x', extra: '../../etc' } });
    const reply = await m6.next('reply-error');
    expect(reply).to.include({ id: 1, code: 'PEER_PROTOCOL', reason: 'schema' });
    expect(echoCalls).to.deep.equal([]);
    m6.control({ kind: 'request', id: 2, type: 'echo', body: { text: 'ok' } });
    expect(await m6.next('reply')).to.deep.equal({ kind: 'reply', id: 2, body: { text: 'ok' } });
    m6.socket.destroy();
    await realPeerStillServed();
  });

  it('refuses a stream id it never issued, a replayed one, and one issued on an earlier connection', async () => {
    const forged = '0123456789abcdef0123456789abcdef';
    const e1 = await rejection(pair.clientConn.sendStream(forged, Readable.from([Buffer.from('x')])));
    expect(e1.code).to.equal('PEER_REFUSED');
    expect(e1.details.reason).to.equal('stream-not-issued');
    const { streamId } = await pair.clientConn.request(Grant, {});
    await pair.clientConn.sendStream(streamId, Readable.from([Buffer.from('first time')]));
    const e2 = await rejection(pair.clientConn.sendStream(streamId, Readable.from([Buffer.from('again')])));
    expect(e2.details.reason).to.equal('stream-replayed');
    expect(streamsSeen).to.equal(1);
    expect(pair.serverLog.find({ event: 'refused', reason: 'stream-not-issued' })).to.have.length(1);
    expect(pair.serverLog.find({ event: 'refused', reason: 'stream-replayed' })).to.have.length(1);
    await realPeerStillServed();
    // A fresh connection: ids issued on the old one are worthless.
    const { streamId: unused } = await pair.clientConn.request(Grant, {});
    pair.clientConn.close();
    const fresh = await new Promise<typeof pair.clientConn>((r) => pair.client.once('peer-up', r));
    const e3 = await rejection(fresh.sendStream(unused, Readable.from([Buffer.from('replay')])));
    expect(e3.details.reason).to.equal('stream-not-issued');
    expect(streamsSeen).to.equal(1);
  });

  it('closes a pinned peer that sends data it was not granted credit for, or on a channel never opened', async () => {
    pair.server.onStream((_id, readable) => readable.on('error', () => undefined)); // never reads: no more credit
    const m = await rawPeer(identities().mallory, pair.port);
    m.control(hello('mallory'));
    await m.next('hello');
    m.control({ kind: 'request', id: 1, type: 'grant', body: {} });
    const { body } = (await m.next('reply')) as { body: { streamId: string } };
    m.control({ kind: 'stream-open', streamId: body.streamId, channel: 1, compression: 'none' });
    const credit = await m.next('stream-credit');
    const flood = Buffer.alloc(64 * 1024, 7);
    for (let sent = 0; sent <= (credit.bytes as number) + flood.length; sent += flood.length) {
      m.socket.write(encodeFrame({ type: 'data', channel: 1, payload: flood }));
    }
    await m.closed;
    expect(pair.serverLog.find({ event: 'refused', reason: 'credit-exceeded', peer: 'mallory' })).to.have.length(1);
    const m2 = await rawPeer(identities().mallory, pair.port);
    m2.control(hello('mallory'));
    await m2.next('hello');
    m2.socket.write(encodeFrame({ type: 'data', channel: 9, payload: flood }));
    await m2.closed;
    expect(pair.serverLog.find({ event: 'refused', reason: 'unknown-channel', peer: 'mallory' })).to.have.length(1);
    await realPeerStillServed();
  });

  it('drops a pinned client that never says hello', async () => {
    const m = await rawPeer(identities().mallory, pair.port);
    const started = Date.now();
    await m.closed;
    expect(Date.now() - started).to.be.within(1000, 4000);
    expect(pair.serverLog.find({ event: 'refused', reason: 'hello-timeout' })).to.have.length(1);
    await realPeerStillServed();
  });

  it('is refused by a client that pinned a different server certificate', async () => {
    const ids = identities();
    const log = logSink();
    const impostor = new PeerServer({ hostName: 'a', identity: ids.stranger, pinned: [{ name: 'b', fingerprint: ids.b.fingerprint }], host: '127.0.0.1', port: 0, logger: log.logger });
    const { port } = await impostor.listen();
    const clientLog = logSink();
    const client = new PeerClient({ hostName: 'b', identity: ids.b, pinned: [{ name: 'a', fingerprint: ids.a.fingerprint }], expectPeer: 'a', host: '127.0.0.1', port, logger: clientLog.logger, reconnectMinMs: 100 });
    let ups = 0;
    impostor.on('peer-up', () => ups++);
    client.start();
    await new Promise((r) => setTimeout(r, 400));
    await client.close();
    await impostor.close();
    expect(clientLog.find({ event: 'refused', reason: 'unpinned-server-certificate' }).length).to.be.at.least(1);
    expect(clientLog.find({ event: 'refused', reason: 'unpinned-server-certificate' })[0]!.fingerprint).to.equal(ids.stranger.fingerprint);
    expect(ups).to.equal(0);
  });

  it('lets a newer connection of the same identity replace the older one', async () => {
    const lost: string[] = [];
    pair.server.on('peer-lost', (_c, reason: string) => lost.push(reason));
    const m1 = await rawPeer(identities().mallory, pair.port);
    m1.control(hello('mallory'));
    await m1.next('hello');
    const m2 = await rawPeer(identities().mallory, pair.port);
    m2.control(hello('mallory'));
    await m2.next('hello');
    await m1.closed;
    expect(pair.server.connections().map((c) => c.peerName).sort()).to.deep.equal(['b', 'mallory']);
    expect(lost).to.deep.equal([]);
    m2.socket.destroy();
    await realPeerStillServed();
  });

  it('refuses requests past the concurrency limit and drops a peer that stops reading its replies', async () => {
    const m = await rawPeer(identities().mallory, pair.port);
    m.control(hello('mallory'));
    await m.next('hello');
    for (let id = 1; id <= 70; id++) m.control({ kind: 'request', id, type: 'hang', body: {} });
    const refused = await m.next('reply-error');
    expect(refused).to.include({ code: 'PEER_REFUSED', reason: 'too-many-requests' });
    await new Promise((r) => setTimeout(r, 100));
    expect(pair.serverLog.find({ event: 'refused', reason: 'too-many-requests' })).to.have.length(6);

    const m2 = await rawPeer(identities().mallory, pair.port);
    m2.control(hello('mallory'));
    await m2.next('hello');
    m2.socket.pause(); // never reads again
    let id = 1;
    const flood = setInterval(() => {
      for (let i = 0; i < 50; i++) m2.control({ kind: 'request', id: id++, type: 'blob', body: {} });
    }, 5);
    await Promise.race([m2.closed, new Promise((r) => setTimeout(r, 10_000))]);
    clearInterval(flood);
    expect(pair.serverLog.find({ event: 'refused', reason: 'peer-not-reading', peer: 'mallory' })).to.have.length(1);
    await realPeerStillServed();
  });

  it('survives seeded mutated frames from a pinned peer (~3 s) and keeps serving the real peer', async function () {
    this.timeout(30_000);
    const { seed, rand, int } = seeded('server-fuzz');
    const templates = (id: number): unknown[] => [
      { kind: 'heartbeat', seq: id, sentAt: Date.now() },
      { kind: 'request', id, type: 'echo', body: { text: 'fuzz' } },
      { kind: 'request', id, type: 'grant', body: {} },
      { kind: 'reply', id, body: {} },
      { kind: 'reply-error', id, code: 'INTERNAL', message: 'x' },
      { kind: 'stream-open', streamId: '0'.repeat(32), channel: 1, compression: 'none' },
      { kind: 'stream-credit', channel: 2, bytes: 1000 },
      { kind: 'stream-end', channel: 1, bytes: 0 },
      { kind: 'stream-abort', channel: 1, code: 'CANCELLED', message: 'x' },
    ];
    const randomValue = (): unknown => [null, -1, 0, 2 ** 53, 'x'.repeat(int(0, 5000)), [], {}, true, '../../etc/passwd', 1.5][int(0, 9)];
    const mutateJson = (msg: Record<string, unknown>): Buffer => {
      const m: Record<string, unknown> = { ...msg };
      const keys = Object.keys(m);
      const op = int(0, 3);
      if (op === 0) m[keys[int(0, keys.length - 1)]!] = randomValue();
      if (op === 1) delete m[keys[int(0, keys.length - 1)]!];
      if (op === 2) m[`extra${int(0, 9)}`] = randomValue();
      const text = Buffer.from(JSON.stringify(m));
      if (op === 3) for (let i = int(1, 4); i > 0; i--) text[int(0, text.length - 1)] = int(0, 255);
      return text;
    };
    const deadline = Date.now() + 3000;
    let connections = 0;
    while (Date.now() < deadline) {
      connections++;
      const m = await rawPeer(identities().mallory, pair.port);
      if (rand() < 0.1) m.control({ ...hello('mallory'), nonce: 'zz' });
      else m.control(hello('mallory'));
      for (let i = int(1, 12); i > 0; i--) {
        const r = rand();
        if (r < 0.6) {
          const t = templates(int(1, 100));
          if (rand() < 0.5) m.control(t[int(0, t.length - 1)]);
          const payload = mutateJson(t[int(0, t.length - 1)] as Record<string, unknown>);
          m.socket.write(Buffer.concat([encodeHeader('control', 0, payload.length), payload]));
        } else if (r < 0.8) {
          m.socket.write(encodeFrame({ type: 'data', channel: int(1, 5), payload: Buffer.alloc(int(1, 3000), int(0, 255)) }));
        } else {
          const f = encodeFrame({ type: 'control', channel: 0, payload: Buffer.from('{"kind":"heartbeat","seq":1,"sentAt":1}') });
          for (let k = int(1, 3); k > 0; k--) f[int(0, f.length - 1)] = int(0, 255);
          m.socket.write(f);
        }
      }
      await Promise.race([m.closed, new Promise((r) => setTimeout(r, 20))]);
      m.socket.destroy();
    }
    expect(connections, `seed ${seed}`).to.be.greaterThan(20);
    const refusals = pair.serverLog.find({ event: 'refused' });
    expect(refusals.length).to.be.greaterThan(connections / 2);
    for (const l of refusals) expect(l.reason, JSON.stringify(l)).to.be.a('string').and.not.equal('internal');
    if (process.env.VMMIRROR_FUZZ_REPORT) {
      const counts: Record<string, number> = {};
      for (const l of refusals) counts[String(l.reason)] = (counts[String(l.reason)] ?? 0) + 1;
      process.stderr.write(`${connections} connections, refusals ${JSON.stringify(counts)}\n`);
    }
    expect(echoCalls.every((p) => p === 'mallory')).to.equal(true);
    await realPeerStillServed();
  });

  it('refuses to start with a malformed or ambiguous pin list', () => {
    const ids = identities();
    const make = (pinned: Array<{ name: string; fingerprint: string }>): unknown => {
      try {
        new PeerServer({ hostName: 'a', identity: ids.a, pinned, host: '127.0.0.1', port: 0 });
      } catch (err) {
        return (err as VmmirrorError).code;
      }
      return 'started';
    };
    expect(make([{ name: 'b', fingerprint: 'AB:CD' }])).to.equal('CONFIG_INVALID');
    expect(make([{ name: 'b', fingerprint: ids.b.fingerprint }, { name: 'c', fingerprint: ids.b.fingerprint.toLowerCase() }])).to.equal('CONFIG_INVALID');
    expect(make([{ name: 'b', fingerprint: ids.b.fingerprint }, { name: 'b', fingerprint: ids.mallory.fingerprint }])).to.equal('CONFIG_INVALID');
    expect(make([{ name: 'b', fingerprint: ids.b.fingerprint.replace(/:/g, '').toLowerCase() }])).to.equal('started');
  });
});
