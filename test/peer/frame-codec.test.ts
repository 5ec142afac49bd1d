import { expect } from 'chai';
import { PeerError } from '../../src/errors';
import { encodeFrame, encodeHeader, FrameDecoder, HEADER_BYTES, type Frame } from '../../src/peer/frame-codec';
import { seeded } from '../helpers/seed';

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(PeerError);
    expect((err as PeerError).code).to.equal('PEER_PROTOCOL');
    return String((err as PeerError).details.reason);
  }
  throw new Error('expected a PeerError');
}

describe('src/peer/frame-codec', () => {
  it('decodes frames split at every possible byte boundary', () => {
    const frames: Frame[] = [
      { type: 'control', channel: 0, payload: Buffer.from('{"kind":"heartbeat","seq":1,"sentAt":2}') },
      { type: 'data', channel: 7, payload: Buffer.alloc(3000, 0xab) },
      { type: 'data', channel: 0xffffffff, payload: Buffer.from([1]) },
    ];
    const wire = Buffer.concat(frames.map(encodeFrame));
    for (let cut = 0; cut <= wire.length; cut++) {
      const d = new FrameDecoder();
      const out = [...d.push(wire.subarray(0, cut)), ...d.push(wire.subarray(cut))];
      d.end();
      expect(out).to.deep.equal(frames);
    }
  });

  it('decodes a stream fed one byte at a time', () => {
    const f: Frame = { type: 'data', channel: 3, payload: Buffer.from('hello') };
    const wire = Buffer.concat([encodeFrame(f), encodeFrame(f)]);
    const d = new FrameDecoder();
    const out: Frame[] = [];
    for (const b of wire) out.push(...d.push(Buffer.from([b])));
    expect(out).to.deep.equal([f, f]);
  });

  it('refuses a foreign magic byte, an unknown version, type or flags, and a wrong channel', () => {
    const good = encodeFrame({ type: 'data', channel: 1, payload: Buffer.from('x') });
    const mutate = (i: number, v: number): Buffer => {
      const b = Buffer.from(good);
      b[i] = v;
      return b;
    };
    expect(reasonOf(() => new FrameDecoder().push(mutate(0, 0x16)))).to.equal('bad-magic');
    expect(reasonOf(() => new FrameDecoder().push(mutate(1, 2)))).to.equal('bad-version');
    expect(reasonOf(() => new FrameDecoder().push(mutate(2, 9)))).to.equal('bad-type');
    expect(reasonOf(() => new FrameDecoder().push(mutate(3, 1)))).to.equal('bad-flags');
    expect(reasonOf(() => new FrameDecoder().push(mutate(7, 0).fill(0, 4, 8)))).to.equal('bad-channel');
    expect(reasonOf(() => new FrameDecoder().push(encodeHeader('control', 5, 3)))).to.equal('bad-channel');
    expect(reasonOf(() => new FrameDecoder().push(encodeHeader('data', 1, 0)))).to.equal('empty');
  });

  it('refuses an oversize length from the header alone, before any payload arrives', () => {
    const d = new FrameDecoder(64 * 1024);
    expect(reasonOf(() => d.push(encodeHeader('data', 1, 64 * 1024 + 1)))).to.equal('oversize');
    expect(d.bufferedBytes).to.equal(0);
    expect(reasonOf(() => d.push(Buffer.from([1])))).to.equal('oversize'); // stays failed
    const ok = new FrameDecoder(64 * 1024);
    expect(ok.push(encodeFrame({ type: 'data', channel: 1, payload: Buffer.alloc(64 * 1024) }))).to.have.length(1);
  });

  it('refuses input that ends inside a frame', () => {
    const wire = encodeFrame({ type: 'data', channel: 1, payload: Buffer.alloc(100) });
    const d = new FrameDecoder();
    d.push(wire.subarray(0, 50));
    expect(reasonOf(() => d.end())).to.equal('truncated');
    const h = new FrameDecoder();
    h.push(wire.subarray(0, 5));
    expect(reasonOf(() => h.end())).to.equal('truncated');
  });

  it('survives random and mutated input: only PeerError, bounded buffer, no hang (seeded fuzz, ~4 s)', function () {
    this.timeout(20_000);
    const { seed, rand, int } = seeded('frame-codec-fuzz');
    const max = 16 * 1024;
    const valid = (): Buffer => {
      const data = rand() < 0.5;
      const len = int(1, rand() < 0.9 ? 200 : max);
      return encodeFrame({ type: data ? 'data' : 'control', channel: data ? int(1, 0xffffffff) : 0, payload: Buffer.alloc(len, int(0, 255)) });
    };
    const deadline = Date.now() + 4000;
    let runs = 0;
    let framesOut = 0;
    const reasons = new Map<string, number>();
    while (Date.now() < deadline) {
      runs++;
      let input: Buffer;
      const mode = int(0, 2);
      if (mode === 0) {
        input = Buffer.alloc(int(0, 3 * max));
        for (let i = 0; i < input.length; i++) input[i] = int(0, 255);
      } else {
        input = Buffer.concat(Array.from({ length: int(1, 6) }, valid));
        const flips = mode === 1 ? int(1, 8) : 0;
        for (let i = 0; i < flips; i++) input[int(0, input.length - 1)] = int(0, 255);
        if (mode === 2) input = input.subarray(0, int(0, input.length));
      }
      const d = new FrameDecoder(max);
      try {
        let at = 0;
        while (at < input.length) {
          const n = int(1, 4096);
          framesOut += d.push(input.subarray(at, at + n)).length;
          expect(d.bufferedBytes).to.be.at.most(HEADER_BYTES + max);
          at += n;
        }
        d.end();
      } catch (err) {
        if (!(err instanceof PeerError)) throw new Error(`seed ${seed} run ${runs}: non-PeerError ${String(err)}`);
        expect(err.code).to.equal('PEER_PROTOCOL');
        const r = String(err.details.reason);
        reasons.set(r, (reasons.get(r) ?? 0) + 1);
      }
    }
    expect(runs).to.be.greaterThan(500);
    expect(framesOut).to.be.greaterThan(100);
    for (const r of ['bad-magic', 'truncated', 'oversize']) expect(reasons.get(r), r).to.be.greaterThan(0);
  });
});
