import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSimulatedHost, createSimulatedHypervisor, createSimulatedVm, crashSimulatedHost, readWriteLog } from '../../src/hypervisor/simulated';
import { readVmRecord } from '../../src/hypervisor/simulated/store';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';
import { handovers, lifeOf, verifyCopy } from './history';

// The data judge of the cluster suite, on a failover done by hand: a writer VM on A, one view
// copied to B's copy and committed (what an acknowledged cycle leaves), more writes, A crashed, the
// VM started on B from its copy. The judge must count A's writes after the view as lost, and must
// refuse A's own copy as a copy of the VM's life (it holds those discarded writes).

describe('test/cluster-e2e/history', function () {
  this.timeout(60_000);

  it('chains boots over two hosts, counts the writes lost at a failover, and refuses a copy holding discarded writes', async () => {
    const rnd = seeded('cluster-e2e history');
    process.stderr.write(`      seed ${rnd.seed}\n`);
    const t = await tempDir('vmmirror-history-');
    const dirs = { hva: join(t.dir, 'hva'), hvb: join(t.dir, 'hvb') };
    const hosts = [
      { host: 'hva', simDir: dirs.hva },
      { host: 'hvb', simDir: dirs.hvb },
    ];
    try {
      const id = randomUUID();
      const writer = { ratePerSecond: 50, unitsPerWrite: 2, seed: rnd.int(1, 1_000_000) };
      for (const [name, dir] of Object.entries(dirs)) {
        await createSimulatedHost(dir, { name });
        await createSimulatedVm(dir, { id, name: 'WEB1', disks: [{ sizeBytes: 4 * 1024 * 1024, subformat: 'dynamic' }], writer });
      }
      const diskOf = (dir: string): string => readVmRecord(dir, id)!.disks[0]!.path;
      const a = createSimulatedHypervisor(dirs.hva);
      const b = createSimulatedHypervisor(dirs.hvb);
      await a.startVm(id, { timeoutMs: 20_000, waitHeartbeat: true });
      await sleep(rnd.int(300, 600));
      // One acknowledged generation: the frozen base copied to B's copy, then released with commit.
      const view = await a.freeze(id, { timeoutMs: 20_000 });
      await copyFile(view.disks[0]!.readPath, diskOf(dirs.hvb));
      await view.release({ commit: true });
      await sleep(rnd.int(300, 600));
      await crashSimulatedHost(dirs.hva);
      await b.startVm(id, { timeoutMs: 20_000, waitHeartbeat: true });
      await sleep(300);
      await b.stopVm(id, 'Shutdown', { timeoutMs: 20_000 });

      const life = await lifeOf(hosts, id);
      expect(life.map((x) => x.host)).to.deep.equal(['hva', 'hvb']);
      const [h] = handovers(life);
      const lastOnA = Math.max(...(await readWriteLog(dirs.hva, id, 0)).map((w) => w.seq));
      expect(h).to.include({ from: 'hva', to: 'hvb', lastSeq: lastOnA });
      expect(h!.acknowledgedSeq, 'the committed view').to.be.greaterThan(0);
      expect(h!.startedFrom, 'B started from the acknowledged generation').to.equal(h!.acknowledgedSeq);
      expect(h!.lostWrites, 'A wrote after the view').to.equal(lastOnA - h!.startedFrom).and.be.greaterThan(0);

      const onB = await verifyCopy(diskOf(dirs.hvb), id, life);
      expect(onB.consistent, JSON.stringify(onB.mismatches)).to.equal(true);
      expect(onB.prefixSeq).to.be.greaterThan(h!.startedFrom);
      // A's copy holds writes B never had: not a copy of the VM's life, ...
      const onA = await verifyCopy(diskOf(dirs.hva), id, life);
      expect(onA.consistent, 'A still holds its discarded writes').to.equal(false);
      // ... but a consistent copy of A's own run (what a crash leaves).
      const onAalone = await verifyCopy(diskOf(dirs.hva), id, life.filter((x) => x.host === 'hva'));
      expect(onAalone.consistent, JSON.stringify(onAalone.mismatches)).to.equal(true);
      expect(onAalone.prefixSeq).to.be.oneOf([lastOnA - 1, lastOnA]);
    } finally {
      for (const dir of Object.values(dirs)) await crashSimulatedHost(dir).catch(() => undefined);
      await t.cleanup();
    }
  });
});
