// Peer link throughput on loopback TLS against the ceiling: a plain node TLS 1.3 socket pushing the
// same bytes with the same keys. Both ends run in this process in both cases, so the comparison is
// fair (one event loop does TLS for both sides either way).
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { connect, createServer } from 'node:tls';
import pino from 'pino';
import { z } from 'zod';
import { createHostIdentity } from '../src/peer/certs';
import { PeerClient } from '../src/peer/client';
import { defineRequest } from '../src/peer/request';
import { PeerServer } from '../src/peer/server';
import type { StreamCompression } from '../src/peer/types';

export interface PeerThroughput {
  linkBytesPerSec: number;
  plainTlsBytesPerSec: number;
  /** link / plain TLS. */
  ratio: number;
  /** Highest resident set size seen during both runs. */
  peakRssBytes: number;
}

const CHUNK = 256 * 1024;
const Grant = defineRequest('bench.grant', z.object({}).strict(), z.object({ streamId: z.string() }).strict());

/** `bytes` from one reused chunk: measures the link, not a data generator. */
function source(bytes: number): Readable {
  const chunk = Buffer.alloc(CHUNK);
  for (let i = 0; i < CHUNK; i++) chunk[i] = (i * 2654435761) >>> 24;
  let left = bytes;
  return new Readable({
    highWaterMark: CHUNK,
    read() {
      if (left <= 0) return void this.push(null);
      const n = Math.min(CHUNK, left);
      left -= n;
      this.push(n === CHUNK ? chunk : chunk.subarray(0, n));
    },
  });
}

function rssSampler(): { stop: () => number } {
  let peak = process.memoryUsage.rss();
  const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 10);
  return {
    stop: () => {
      clearInterval(t);
      return Math.max(peak, process.memoryUsage.rss());
    },
  };
}

/** A plain node TLS 1.3 socket on loopback pushing `bytes` (the ceiling); returns bytes per second. */
export async function plainTls(bytes: number, a: ReturnType<typeof createHostIdentity>, b: ReturnType<typeof createHostIdentity>): Promise<number> {
  const tlsBase = { minVersion: 'TLSv1.3' as const, maxVersion: 'TLSv1.3' as const, rejectUnauthorized: false };
  let received = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const server = createServer({ ...tlsBase, key: a.keyPem, cert: a.certPem, requestCert: true }, (s) => {
    s.on('data', (d: Buffer) => {
      received += d.length;
      if (received >= bytes) done();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const socket = connect({ ...tlsBase, key: b.keyPem, cert: b.certPem, host: '127.0.0.1', port: (server.address() as AddressInfo).port });
  await once(socket, 'secureConnect');
  const started = performance.now();
  for await (const chunk of source(bytes)) {
    if (!socket.write(chunk as Buffer)) await once(socket, 'drain');
  }
  await finished;
  const seconds = (performance.now() - started) / 1000;
  socket.destroy();
  await new Promise((r) => server.close(r));
  return bytes / seconds;
}

async function link(bytes: number, a: ReturnType<typeof createHostIdentity>, b: ReturnType<typeof createHostIdentity>, compression: StreamCompression): Promise<number> {
  const logger = pino({ level: 'warn' }, pino.destination(2));
  const streamWindowBytes = process.env.BENCH_WINDOW ? Number(process.env.BENCH_WINDOW) : undefined;
  const server = new PeerServer({ hostName: 'a', identity: a, pinned: [{ name: 'b', fingerprint: b.fingerprint }], host: '127.0.0.1', port: 0, logger, streamWindowBytes });
  const { port } = await server.listen();
  let received = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  server.onRequest(Grant, (_b, conn) => ({ streamId: conn.issueStreamId() }));
  server.onStream((_id, readable) => {
    readable.on('data', (d: Buffer) => (received += d.length));
    readable.on('end', done);
  });
  const client = new PeerClient({ hostName: 'b', identity: b, pinned: [{ name: 'a', fingerprint: a.fingerprint }], expectPeer: 'a', host: '127.0.0.1', port, logger });
  client.start();
  const conn = await client.connected(10_000);
  const started = performance.now();
  const { streamId } = await conn.request(Grant, {});
  await conn.sendStream(streamId, source(bytes), { compression });
  await finished;
  const seconds = (performance.now() - started) / 1000;
  await client.close();
  await server.close();
  if (received !== bytes) throw new Error(`bench: ${received} of ${bytes} bytes arrived`);
  return bytes / seconds;
}

/** Bulk stream over the peer link vs a plain TLS socket, same bytes, same process; best of `rounds` each, alternating. */
export async function benchPeerThroughput(o: { bytes: number; compression?: StreamCompression; rounds?: number }): Promise<PeerThroughput> {
  const a = createHostIdentity('bench-a');
  const b = createHostIdentity('bench-b');
  const rss = rssSampler();
  // Warm both paths once (JIT, TLS setup) on a small transfer.
  await plainTls(8 * CHUNK, a, b);
  await link(8 * CHUNK, a, b, 'none');
  let plainTlsBytesPerSec = 0;
  let linkBytesPerSec = 0;
  for (let i = 0; i < (o.rounds ?? 3); i++) {
    plainTlsBytesPerSec = Math.max(plainTlsBytesPerSec, await plainTls(o.bytes, a, b));
    linkBytesPerSec = Math.max(linkBytesPerSec, await link(o.bytes, a, b, o.compression ?? 'none'));
  }
  return { linkBytesPerSec, plainTlsBytesPerSec, ratio: linkBytesPerSec / plainTlsBytesPerSec, peakRssBytes: rss.stop() };
}

if (require.main === module) {
  const mib = Number(process.argv[2] ?? 512);
  benchPeerThroughput({ bytes: mib * 1024 * 1024 }).then((r) => {
    const f = (x: number): string => `${(x / 1024 / 1024).toFixed(0)} MiB/s`;
    process.stderr.write(`peer link ${f(r.linkBytesPerSec)}, plain TLS ${f(r.plainTlsBytesPerSec)}, ratio ${r.ratio.toFixed(2)}, peak RSS ${(r.peakRssBytes / 1048576).toFixed(0)} MiB\n`);
  });
}
