import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCycle, senderStateDir } from '../../src/agent/cycle';
import { CycleBegin } from '../../src/agent/messages';
import { localVmDisksVia, vhdxFileBound } from '../../src/agent/replica-targets';
import { hasCode } from '../../src/errors';
import { qemuCheck, qemuCompare } from '../helpers/qemu';
import { seeded } from '../helpers/seed';
import { MiB, cycleHosts, type CycleHosts } from './cycle-hosts';

// Symmetric disks (issue 8): each host has its own copy; whichever runs the VM sends from its
// copy into the other's, at the epoch it holds. After a failover the survivor sends from the copy
// it was receiving into, and only what differs moves (the returning copy is adopted, not resent).

async function sha(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

describe('src/agent/cycle (symmetric disks)', function () {
  this.timeout(120_000);
  let t: CycleHosts;
  before(async () => {
    t = await cycleHosts();
  });
  after(async () => t.cleanup());

  it('a sends from its Path into b\'s ReplicaPath, then b (after a takeover) sends from that copy back into a\'s Path, each time only what differs', async () => {
    const { a, b } = t;
    const rnd = seeded('cycle-symmetric writes');
    process.stderr.write(`      (seed ${rnd.seed})\n`);
    const blockAt = () => rnd.int(0, 7) * MiB + rnd.int(0, 15) * 65536;

    // Epoch 1: a runs web1, b receives it.
    b.cluster.epochs.set('web1', 1);
    // Enough data that resending the disk would show: 4 MiB written by the guest.
    await a.hv.guestWrite(a.vmId, { offset: 2 * MiB, length: 4 * MiB, pattern: rnd.int(1, 255) });
    await a.hv.guestWrite(a.vmId, { offset: blockAt(), length: 65536, pattern: rnd.int(1, 255) });
    await a.hv.guestWrite(a.vmId, { offset: blockAt(), length: 65536, pattern: rnd.int(1, 255) });
    const first = await runCycle(a.deps, a.config.modules[0]!, { epoch: 1, signal: new AbortController().signal });
    expect(first).to.deep.include({ epoch: 1, fromGeneration: 0, toGeneration: 1 });
    expect((await qemuCompare(a.diskPath, b.diskPath)).same).to.equal(true);
    expect(await sha(b.diskPath)).to.equal(await sha(a.diskPath));
    expect(first.bytesChanged).to.be.at.least(4 * MiB);
    expect(b.cluster.applied).to.deep.equal([{ module: 'web1', epoch: 1, generation: 1 }]);
    expect(existsSync(join(senderStateDir(a.config, 'web1'), 'view.json')), 'the view record goes with the view').to.equal(false);

    // A refuses to receive what it runs: a cycle from b at epoch 1 is refused by a's gate.
    const refused = await runCycle(b.deps, b.config.modules[0]!, { epoch: 1, signal: new AbortController().signal }).then(() => null, (e: unknown) => e);
    expect(hasCode(refused, 'MODULE_NOT_SECONDARY'), String(refused)).to.equal(true);

    // Takeover at epoch 2: b finishes any committed journal and lets go, then runs the VM on its copy.
    expect(await b.side.release('web1')).to.deep.equal({ generation: 1 });
    b.cluster.epochs.delete('web1');
    a.cluster.epochs.set('web1', 2);
    const written = 65536;
    await b.hv.guestWrite(b.vmId, { offset: 3 * MiB + 65536, length: written, pattern: 0xb2 });

    // A stale sender (a, still at epoch 1) is refused by b's gate.
    const stale = await runCycle(a.deps, a.config.modules[0]!, { epoch: 1, signal: new AbortController().signal }).then(() => null, (e: unknown) => e);
    expect(hasCode(stale, 'MODULE_NOT_SECONDARY'), String(stale)).to.equal(true);

    const back = await runCycle(b.deps, b.config.modules[0]!, { epoch: 2, signal: new AbortController().signal });
    expect(back).to.deep.include({ epoch: 2, fromGeneration: 0, toGeneration: 1 });
    expect((await qemuCompare(a.diskPath, b.diskPath)).same).to.equal(true);
    expect(await sha(a.diskPath)).to.equal(await sha(b.diskPath));
    expect((await qemuCheck(a.diskPath)).ok).to.equal(true);
    // a's own copy was adopted: the cycle moved the write (and the metadata it touched), not the disk.
    // (Without the adoption the whole 4 MiB and more would travel again.)
    expect(back.bytesChanged).to.be.at.least(written).and.at.most(written + 256 * 1024);
    expect(a.cluster.applied).to.deep.equal([{ module: 'web1', epoch: 2, generation: 1 }]);
  });

  it("bounds b's copy by its own registered VM's disk (no MaxBytes set): an announced size above that bound is refused", async () => {
    const { a, b } = t;
    expect(await localVmDisksVia(b.hv, b.config)('web1')).to.deep.equal([{ basePath: b.diskPath, sizeBytes: 8 * MiB }]);
    b.cluster.epochs.set('web1', 3);
    const bound = vhdxFileBound(8 * MiB);
    const over = await t.pair.serverConn.request(CycleBegin, { module: 'web1', epoch: 3, disks: [{ name: 'web1.vhdx', sizeBytes: bound + 1 }], blockSize: a.config.modules[0]!.replication.blockSize }).then(() => null, (e: unknown) => e);
    expect(hasCode(over, 'STREAM_OUT_OF_RANGE'), String(over)).to.equal(true);
    const ok = await t.pair.serverConn.request(CycleBegin, { module: 'web1', epoch: 3, disks: [{ name: 'web1.vhdx', sizeBytes: bound }], blockSize: a.config.modules[0]!.replication.blockSize });
    expect(ok).to.deep.include({ epoch: 3 });
    expect(ok.files.map((f) => f.name)).to.deep.equal(['web1.vhdx']);
  });
});
