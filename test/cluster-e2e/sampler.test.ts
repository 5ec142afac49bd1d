import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createSimulatedHost, createSimulatedHypervisor, createSimulatedVm, crashSimulatedHost } from '../../src/hypervisor/simulated';
import { tempDir } from '../helpers/tmp';
import { RunSampler } from './sampler';

// The sampler is the judge of C1 in the cluster suite, so it must be able to say "both": one VM id
// registered on two simulated hosts, started by hand on one, then on the other.

describe('test/cluster-e2e/sampler', function () {
  this.timeout(60_000);

  it('records where a VM runs every 100 ms, and counts the moments it runs on both hosts', async () => {
    const t = await tempDir('vmmirror-sampler-');
    const dirs = { hva: join(t.dir, 'hva'), hvb: join(t.dir, 'hvb') };
    const sampler = new RunSampler([
      { name: 'hva', simDir: dirs.hva },
      { name: 'hvb', simDir: dirs.hvb },
    ]);
    try {
      const id = randomUUID();
      for (const [name, dir] of Object.entries(dirs)) {
        await createSimulatedHost(dir, { name });
        await createSimulatedVm(dir, { id, name: 'WEB1', disks: [{ sizeBytes: 4 * 1024 * 1024, subformat: 'dynamic' }] });
      }
      const a = createSimulatedHypervisor(dirs.hva);
      const b = createSimulatedHypervisor(dirs.hvb);
      sampler.start();
      await sampler.waitFor('a first sample', () => true, 5000);
      expect(sampler.runningNow(id)).to.deep.equal([]);

      const startedA = performance.now();
      await a.startVm(id, { timeoutMs: 20_000, waitHeartbeat: true });
      await sampler.waitFor('WEB1 on hva', (s) => (s.running.get(id) ?? []).includes('hva'), 10_000);
      const seenA = sampler.firstRunningAfter(id, 'hva', startedA);
      expect(seenA).to.be.a('number').and.at.least(startedA);
      expect(sampler.momentsOnBoth()).to.equal(0);
      expect(sampler.firstRunningAfter(id, 'hvb', startedA)).to.equal(null);

      // The same VM started on the other host too: the sampler must see both.
      await b.startVm(id, { timeoutMs: 20_000, waitHeartbeat: true });
      await sampler.waitFor('WEB1 on both', (s) => (s.running.get(id) ?? []).length === 2, 10_000);
      await sampler.waitFor('two more samples', () => true, 5000);
      await sampler.waitFor('one more sample', () => true, 5000);
      expect(sampler.momentsOnBoth()).to.be.at.least(2);
      expect(sampler.overlaps()[0]).to.include({ vmId: id }).and.to.have.property('hosts').that.has.members(['hva', 'hvb']);

      const crashedAt = performance.now();
      await crashSimulatedHost(dirs.hva);
      await sampler.waitFor('WEB1 on hvb only', (s) => (s.running.get(id) ?? []).join() === 'hvb', 10_000);
      expect(sampler.changes(id, crashedAt).map((c) => c.to)).to.deep.equal([['hvb']]);
      await sampler.stop();
      const n = sampler.timeline.length;
      expect(sampler.maxGapMs(), 'samples every ~100 ms').to.be.below(1000);
      // Stopped means stopped: no sample after stop().
      await new Promise((r) => setTimeout(r, 300));
      expect(sampler.timeline.length).to.equal(n);
    } finally {
      await sampler.stop();
      for (const dir of Object.values(dirs)) await crashSimulatedHost(dir).catch(() => undefined);
      await t.cleanup();
    }
  });
});
