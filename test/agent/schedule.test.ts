import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { cronExpressionFor, startSchedule } from '../../src/agent/schedule';

describe('src/agent/schedule', () => {
  it('turns seconds into cron expressions where cron can say them exactly', () => {
    expect(cronExpressionFor(30)).to.equal('*/30 * * * * *');
    expect(cronExpressionFor(1)).to.equal('*/1 * * * * *');
    expect(cronExpressionFor(300)).to.equal('0 */5 * * * *');
    expect(cronExpressionFor(7200)).to.equal('0 0 */2 * * *');
    expect(cronExpressionFor(45)).to.equal(null);
    expect(cronExpressionFor('0 */15 * * * *')).to.equal('0 */15 * * * *');
  });

  it('ticks on a one-second cron schedule and stops when told', async () => {
    let ticks = 0;
    const s = startSchedule(1, () => (ticks += 1));
    expect(s.nextAt()!.getTime()).to.be.within(Date.now(), Date.now() + 1000);
    await sleep(2300);
    s.stop();
    const seen = ticks;
    expect(seen).to.be.within(2, 3);
    await sleep(1200);
    expect(ticks).to.equal(seen);
    expect(s.nextAt()).to.equal(null);
  });
});
