import { expect } from 'chai';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { hasCode, PeerError, ReplicationError, VmmirrorError } from '../../src/errors';
import { defineRequest } from '../../src/peer/request';
import { TokenBucket } from '../../src/peer/token-bucket';
import type { StreamCompression } from '../../src/peer/types';
import { hashingSink, patternStream } from '../helpers/byte-streams';
import { connectedPair, type Pair } from '../helpers/peer-pair';
import { seeded } from '../helpers/seed';

const Echo = defineRequest('echo', z.object({ text: z.string().max(100) }).strict(), z.object({ text: z.string(), from: z.string() }).strict());
const Grant = defineRequest('grant', z.object({}).strict(), z.object({ streamId: z.string() }).strict());
const Fail = defineRequest('fail', z.object({}).strict(), z.object({}).strict());
const Big = defineRequest('big', z.object({ size: z.number().int() }).strict(), z.object({ data: z.string() }).strict());
const Slow = defineRequest('slow', z.object({}).strict(), z.object({}).strict());

/** Wires both ends the way the agent will: the receiver issues a stream id on request. */
function wire(pair: Pair): void {
  pair.server.onRequest(Echo, (b, conn) => ({ text: b.text, from: `a<-${conn.peerName}` }));
  pair.client.onRequest(Echo, (b, conn) => ({ text: b.text, from: `b<-${conn.peerName}` }));
  pair.server.onRequest(Grant, (_b, conn) => ({ streamId: conn.issueStreamId() }));
  pair.server.onRequest(Fail, () => {
    throw new ReplicationError('STREAM_WRONG_GENERATION', 'replica is at generation 7');
  });
  pair.server.onRequest(Slow, () => new Promise(() => undefined));
  pair.server.onRequest(Big, (b) => ({ data: 'x'.repeat(b.size) }));
}

async function expectCode(p: Promise<unknown>, code: string): Promise<VmmirrorError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(VmmirrorError);
    expect((err as VmmirrorError).code, (err as Error).message).to.equal(code);
    return err as VmmirrorError;
  }
  throw new Error(`expected a ${code} rejection`);
}

describe('src/peer/connection', function () {
  this.timeout(30_000);
  let pair: Pair;
  beforeEach(async () => {
    pair = await connectedPair({ heartbeatIntervalMs: 100, peerLostTimeoutMs: 1000 });
    wire(pair);
  });
  afterEach(() => pair.close());

  it('exchanges hellos naming both pinned hosts and agreeing on one session id', () => {
    expect(pair.clientConn.peerName).to.equal('a');
    expect(pair.serverConn.peerName).to.equal('b');
    expect(pair.serverConn.sessionId).to.match(/^[0-9a-f]{32}$/);
    expect(pair.clientConn.sessionId).to.equal(pair.serverConn.sessionId);
  });

  it('sends heartbeats both ways while idle', async () => {
    const s0 = pair.serverConn.framesReceived;
    const c0 = pair.clientConn.framesReceived;
    await new Promise((r) => setTimeout(r, 650));
    expect(pair.serverConn.framesReceived - s0).to.be.at.least(4);
    expect(pair.clientConn.framesReceived - c0).to.be.at.least(4);
  });

  it('answers requests in both directions with validated replies', async () => {
    expect(await pair.clientConn.request(Echo, { text: 'hi' })).to.deep.equal({ text: 'hi', from: 'a<-b' });
    expect(await pair.serverConn.request(Echo, { text: 'yo' })).to.deep.equal({ text: 'yo', from: 'b<-a' });
    const many = await Promise.all(Array.from({ length: 50 }, (_, i) => pair.clientConn.request(Echo, { text: String(i) })));
    expect(many.map((r) => r.text)).to.deep.equal(Array.from({ length: 50 }, (_, i) => String(i)));
  });

  it('carries the remote handler error code back to the caller, and times out a request that gets no reply', async () => {
    const err = await expectCode(pair.clientConn.request(Fail, {}), 'STREAM_WRONG_GENERATION');
    expect(err.details.remote).to.equal(true);
    await expectCode(pair.clientConn.request(Slow, {}, { timeoutMs: 200 }), 'PEER_TIMEOUT');
    await expectCode(pair.serverConn.request(Grant, {}), 'PEER_PROTOCOL'); // b has no 'grant' handler
    expect(pair.clientLog.find({ event: 'refused', reason: 'unknown-request-type' })).to.have.length(1);
  });

  it('refuses a request or a reply too large for one frame, and says why', async () => {
    const small = await connectedPair({ maxFramePayload: 64 * 1024 });
    try {
      wire(small);
      small.server.onRequest(Big, (b) => ({ data: 'x'.repeat(b.size) }));
      expect((await small.clientConn.request(Big, { size: 1000 })).data).to.have.length(1000);
      const e = await expectCode(small.clientConn.request(Big, { size: 100_000 }), 'INTERNAL');
      expect(e.details.reason).to.equal('reply-too-large');
      const Upload = defineRequest('upload', z.object({ data: z.string() }).strict(), z.object({}).strict());
      const out = await expectCode(small.clientConn.request(Upload, { data: 'y'.repeat(100_000) }), 'PEER_PROTOCOL');
      expect(out.details).to.include({ reason: 'oversize', side: 'local' });
      expect(await small.clientConn.request(Echo, { text: 'fine' })).to.deep.include({ text: 'fine' });
    } finally {
      await small.close();
    }
  });

  it('refuses to send a request body that fails its own schema', async () => {
    const err = await expectCode(pair.clientConn.request(Echo, { text: 'x'.repeat(101) }), 'PEER_PROTOCOL');
    expect(err.details.reason).to.equal('schema');
  });

  for (const [compression, mib] of [['none', 24], ['deflate', 8], ['brotli', 4]] as Array<[StreamCompression, number]>) {
    it(`delivers a ${mib} MiB stream intact and in order with compression ${compression}`, async () => {
      const { seed } = seeded(`stream-${compression}`);
      const received = new Promise<{ bytes: number; digest: string; info: unknown }>((resolve, reject) => {
        pair.server.onStream((_id, readable, info) => {
          const { sink, result } = hashingSink();
          pipeline(readable, sink).then(() => resolve({ ...result(), info }), reject);
        });
      });
      const { streamId } = await pair.clientConn.request(Grant, {});
      const src = patternStream(mib * 1024 * 1024, seed);
      const sent = await pair.clientConn.sendStream(streamId, src.stream, { compression, meta: { module: 'vm1' } });
      const got = await received;
      expect(got.bytes).to.equal(mib * 1024 * 1024);
      expect(got.digest).to.equal(src.digest());
      expect(got.info).to.deep.include({ streamId, compression, peerName: 'b', meta: { module: 'vm1' } });
      expect(sent.bytes).to.equal(mib * 1024 * 1024);
      if (compression === 'none') expect(sent.wireBytes).to.equal(sent.bytes);
      else expect(sent.wireBytes).to.be.above(sent.bytes * 0.9); // random bytes do not compress
    });
  }

  it('compresses a compressible stream on the wire and restores it exactly', async () => {
    const received = new Promise<{ bytes: number; digest: string }>((resolve, reject) => {
      pair.server.onStream((_id, readable) => {
        const { sink, result } = hashingSink();
        pipeline(readable, sink).then(() => resolve(result()), reject);
      });
    });
    const text = Buffer.from('vmmirror '.repeat(1000));
    const chunks = Array.from({ length: 1000 }, () => text);
    const expected = hashingSink();
    for (const c of chunks) expected.sink.write(c);
    const { streamId } = await pair.clientConn.request(Grant, {});
    const sent = await pair.clientConn.sendStream(streamId, Readable.from(chunks), { compression: 'deflate' });
    const got = await received;
    expect(sent.bytes).to.equal(9_000_000);
    expect(sent.wireBytes).to.be.below(sent.bytes / 50);
    expect(got.bytes).to.equal(9_000_000);
    expect(got.digest).to.equal(expected.result().digest);
  });

  it('keeps the sender bounded while a slow reader takes 64 MiB', async () => {
    const { seed } = seeded('backpressure');
    const total = 64 * 1024 * 1024;
    let produced = 0;
    let consumed = 0;
    let maxAhead = 0;
    let maxSocketBuffer = 0;
    const socket = (pair.clientConn as unknown as { socket: { writableLength: number } }).socket;
    const sample = setInterval(() => (maxSocketBuffer = Math.max(maxSocketBuffer, socket.writableLength)), 2);
    const received = new Promise<{ bytes: number; digest: string }>((resolve, reject) => {
      pair.server.onStream((_id, readable) => {
        const { sink, result } = hashingSink({ pauseMs: 3, every: 128 * 1024, onConsume: (n) => (consumed += n) });
        pipeline(readable, sink).then(() => resolve(result()), reject);
      });
    });
    const { streamId } = await pair.clientConn.request(Grant, {});
    const src = patternStream(total, seed, 64 * 1024, (n) => {
      produced += n;
      maxAhead = Math.max(maxAhead, produced - consumed);
    });
    const started = Date.now();
    await pair.clientConn.sendStream(streamId, src.stream);
    const got = await received;
    clearInterval(sample);
    expect(got.bytes).to.equal(total);
    expect(got.digest).to.equal(src.digest());
    expect(Date.now() - started, 'the reader really was slow').to.be.greaterThan(1000);
    // window + the source's buffer + one chunk in hand + the sink's buffer
    const window = pair.clientConn.options.streamWindowBytes;
    expect(window).to.equal(4 * 1024 * 1024);
    expect(maxAhead).to.be.at.most(window + 4 * 64 * 1024);
    expect(maxSocketBuffer).to.be.at.most(window + 64 * 1024);
  });

  it('reports a sender abort as an error on the reader, a reader abort as an error to the sender, and keeps the link usable', async () => {
    const readerError = new Promise<unknown>((resolve) => {
      pair.server.onStream((_id, readable) => {
        readable.on('error', resolve);
        readable.resume();
      });
    });
    const { streamId } = await pair.clientConn.request(Grant, {});
    const src = new Readable({ read() {} });
    const sending = pair.clientConn.sendStream(streamId, src);
    src.push(Buffer.alloc(1000, 1));
    setTimeout(() => src.destroy(new Error('disk read failed')), 50);
    await expectCode(sending, 'PEER_PROTOCOL');
    const err = await readerError;
    expect(err).to.be.instanceOf(PeerError);
    expect((err as PeerError).details.reason).to.equal('sender-aborted');

    pair.server.onStream((_id, readable) => {
      readable.once('data', () => readable.destroy());
    });
    const second = await pair.clientConn.request(Grant, {});
    const big = patternStream(32 * 1024 * 1024, 1);
    const e2 = await expectCode(pair.clientConn.sendStream(second.streamId, big.stream), 'CANCELLED');
    expect(e2.details.reason).to.equal('receiver-aborted');
    expect(await pair.clientConn.request(Echo, { text: 'still here' })).to.deep.include({ text: 'still here' });

    // A handler that refuses at once, with a reason: the sender gets that code and message, no data flows.
    let dataSeen = 0;
    pair.server.onStream((_id, readable) => {
      readable.on('data', (d: Buffer) => (dataSeen += d.length));
      readable.destroy(new PeerError('PEER_PROTOCOL', 'stream metadata fails its schema'));
    });
    const third = await pair.clientConn.request(Grant, {});
    const e3 = await expectCode(pair.clientConn.sendStream(third.streamId, patternStream(8 * 1024 * 1024, 3).stream), 'PEER_PROTOCOL');
    expect(e3.message).to.contain('stream metadata fails its schema');
    expect(dataSeen).to.equal(0);
  });

  it('fails pending requests and streams with PEER_UNREACHABLE when the connection closes', async () => {
    const pending = pair.clientConn.request(Slow, {});
    pair.serverConn.close();
    const err = await expectCode(pending, 'PEER_UNREACHABLE');
    expect(hasCode(err, 'PEER_UNREACHABLE')).to.equal(true);
  });

  it('limits the sending rate with a token bucket', async () => {
    const closing = pair.close();
    await closing;
    pair = await connectedPair({ bandwidth: new TokenBucket(4 * 1024 * 1024, 256 * 1024) });
    wire(pair);
    pair.server.onStream((_id, readable) => readable.resume());
    const { streamId } = await pair.clientConn.request(Grant, {});
    const started = Date.now();
    await pair.clientConn.sendStream(streamId, patternStream(2 * 1024 * 1024, 2).stream);
    const ms = Date.now() - started;
    expect(ms).to.be.within(380, 2000); // (2 MiB - 256 KiB burst) at 4 MiB/s = 437 ms
  });
});
