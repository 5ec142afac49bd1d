import { expect } from 'chai';
import { TokenBucket } from '../../src/peer/token-bucket';

describe('src/peer/token-bucket', () => {
  it('lets the burst through at once and then holds the average rate, callers served in order', async () => {
    const bucket = new TokenBucket(1_000_000, 100_000);
    const order: number[] = [];
    const started = performance.now();
    await bucket.take(100_000);
    expect(performance.now() - started).to.be.below(100);
    await Promise.all([1, 2, 3].map((i) => bucket.take(100_000).then(() => order.push(i))));
    const ms = performance.now() - started;
    expect(order).to.deep.equal([1, 2, 3]);
    expect(ms).to.be.within(280, 1500); // 300 kB past the burst at 1 MB/s (upper bound loose: busy CI)
  });

  it('refuses a rate that is not a positive number', () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => new TokenBucket(bad)).to.throw(RangeError);
  });
});
