import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { Semaphore } from '../../src/agent/semaphore';

describe('src/agent/semaphore', () => {
  it('never lets more than the limit run at once, and serves waiters in order', async () => {
    const sem = new Semaphore(2);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const release = await sem.acquire();
        order.push(i);
        running += 1;
        peak = Math.max(peak, running);
        await sleep(10);
        running -= 1;
        release();
      }),
    );
    expect(peak).to.equal(2);
    expect(order).to.deep.equal([0, 1, 2, 3, 4, 5]);
    expect(sem.inUse).to.equal(0);
  });

  it('ignores a second release and drops an aborted waiter', async () => {
    const sem = new Semaphore(1);
    const r1 = await sem.acquire();
    const ac = new AbortController();
    const waiting = sem.acquire(ac.signal);
    ac.abort(new Error('stop'));
    await waiting.then(() => expect.fail('an aborted waiter got a slot'), (e: Error) => expect(e.message).to.equal('stop'));
    r1();
    r1();
    expect(sem.inUse).to.equal(0);
    const r2 = await sem.acquire();
    expect(sem.inUse).to.equal(1);
    r2();
  });
});
