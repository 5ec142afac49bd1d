import { expect } from 'chai';
import { RefusalLog } from '../../src/peer/refusal-log';
import { logSink } from '../helpers/log-sink';

describe('src/peer/refusal-log', () => {
  it('bounds the lines per interval whatever the number of sources, and still counts every refusal', () => {
    const log = logSink();
    const r = new RefusalLog({ logger: log.logger, intervalMs: 60_000, maxSources: 4, scope: 'connection' });
    for (let src = 0; src < 10; src++) for (let i = 0; i < 5; i++) r.record(`10.0.0.${src}`, i % 2 === 0 ? 'source-limit' : 'pre-auth-timeout');
    // Four sources tracked, two reasons each: eight full lines; nothing yet for the other six.
    expect(log.find({ event: 'refused' })).to.have.length(8);
    r.flush();
    const summaries = log.find({ event: 'refused-summary' });
    expect(summaries.map((l) => l.remoteAddress)).to.deep.equal(['10.0.0.0', '10.0.0.1', '10.0.0.2', '10.0.0.3', null]);
    expect(summaries[0]!.counts).to.deep.equal({ 'source-limit': 2, 'pre-auth-timeout': 1 });
    expect(summaries[4]).to.include({ total: 30 });
    let counted = log.find({ event: 'refused' }).length;
    for (const l of summaries) counted += l.total as number;
    expect(counted).to.equal(50);
    // A new interval starts clean: the first refusal is again one full line.
    r.record('10.0.0.7', 'source-limit');
    expect(log.find({ event: 'refused', remoteAddress: '10.0.0.7' })).to.have.length(1);
    r.close();
    expect(log.find({ event: 'refused-summary' })).to.have.length(5);
  });

  it('writes the summary by itself when the interval ends', async () => {
    const log = logSink();
    const r = new RefusalLog({ logger: log.logger, intervalMs: 50, maxSources: 4, scope: 'connection' });
    const started = performance.now();
    r.record('10.0.0.1', 'evicted');
    r.record('10.0.0.1', 'evicted');
    while (log.find({ event: 'refused-summary' }).length === 0) {
      expect(performance.now() - started, 'summary within 5 s').to.be.below(5000);
      await new Promise((res) => setTimeout(res, 10));
    }
    expect(performance.now() - started).to.be.at.least(45);
    expect(log.find({ event: 'refused-summary', remoteAddress: '10.0.0.1' })[0]).to.include({ total: 1 });
    r.close();
    expect(log.find({ event: 'refused-summary' })).to.have.length(1);
  });
});
