import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { prng } from './seed';

/** A seeded pseudo-random byte stream of `total` bytes, produced on demand (never all in memory). */
export function patternStream(total: number, seed: number, chunk = 64 * 1024, onProduce?: (n: number) => void): { stream: Readable; digest: () => string } {
  const rand = prng(seed);
  const hash = createHash('sha256');
  let left = total;
  const stream = new Readable({
    highWaterMark: chunk,
    read() {
      if (left === 0) return void this.push(null);
      const n = Math.min(chunk, left);
      const buf = Buffer.allocUnsafe(n);
      for (let i = 0; i + 4 <= n; i += 4) buf.writeUInt32LE((rand() * 4294967296) >>> 0, i);
      for (let i = n - (n % 4); i < n; i++) buf[i] = (rand() * 256) | 0;
      left -= n;
      hash.update(buf);
      onProduce?.(n);
      this.push(buf);
    },
  });
  return { stream, digest: () => hash.digest('hex') };
}

/** Reads a stream, hashing it; optionally slowly (pauseMs after every `every` bytes). */
export function hashingSink(o: { pauseMs?: number; every?: number; onConsume?: (n: number) => void } = {}): { sink: Writable; result: () => { bytes: number; digest: string } } {
  const hash = createHash('sha256');
  let bytes = 0;
  let sinceSleep = 0;
  const sink = new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      o.onConsume?.(chunk.length);
      sinceSleep += chunk.length;
      if (o.pauseMs && sinceSleep >= (o.every ?? 64 * 1024)) {
        sinceSleep = 0;
        setTimeout(cb, o.pauseMs);
      } else cb();
    },
  });
  return { sink, result: () => ({ bytes, digest: hash.digest('hex') }) };
}
