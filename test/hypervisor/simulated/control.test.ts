import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { hasCode } from '../../../src/errors';
import { createSimulatedVm } from '../../../src/hypervisor/simulated';
import { sendRequest } from '../../../src/hypervisor/simulated/control';
import { SimRuntime } from '../../../src/hypervisor/simulated/schemas';
import { readJson, writeJsonAtomic } from '../../../src/hypervisor/simulated/store';
import { isVmProcessAlive } from '../../../src/hypervisor/simulated/vm-launch';
import { makeSimFixture, type SimFixture } from './fixture';

const MiB = 1024 * 1024;
const T = { timeoutMs: 20_000 };

describe('src/hypervisor/simulated/control', function () {
  this.timeout(60_000);
  let f: SimFixture;
  before(async () => {
    f = await makeSimFixture({ switchNames: [], hostMemoryBytes: 8 * 1024 * MiB });
  });
  after(async () => f?.cleanup());

  it('never lets a request meant for an earlier boot act on a later one', async () => {
    const id = await createSimulatedVm(f.stateDir, { name: 'stale request', disks: [{ sizeBytes: 1 * MiB, subformat: 'raw' }] });
    // Left behind by a driver that died while the VM was off: a write for a boot that no longer exists.
    const requests = join(f.stateDir, 'vms', id, 'requests');
    writeJsonAtomic(join(requests, '000000000000001-000001-stale.json'), { bootId: randomUUID(), op: { kind: 'write', diskIndex: 0, offset: 0, length: 512, pattern: 0x99 } });
    await f.hypervisor.startVm(id, { ...T, waitHeartbeat: true });
    for (let i = 0; i < 100 && (await readdir(requests)).length > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await readdir(requests)).to.deep.equal([]);
    await f.hypervisor.stopVm(id, 'Shutdown', T);
    const disk = (await f.hypervisor.getVm(id))!.disks[0]!.path;
    expect((await readFile(disk)).subarray(0, 512), 'the stale write never landed').to.deep.equal(Buffer.alloc(512));
  });

  it('times out a request nobody answers (VM_TIMEOUT) and reports a VM that died meanwhile (VM_WRONG_STATE)', async () => {
    const id = await createSimulatedVm(f.stateDir, { name: 'deaf', disks: [] });
    await f.hypervisor.startVm(id, { ...T, waitHeartbeat: true });
    const rt = readJson(join(f.stateDir, 'vms', id, 'runtime.json'), SimRuntime)!;
    try {
      // Addressed to another boot: the live process discards it, so no answer ever comes.
      await sendRequest(f.stateDir, id, randomUUID(), { kind: 'shutdown' }, { timeoutMs: 300, alive: () => true });
      expect.fail('answered');
    } catch (err) {
      expect(hasCode(err, 'VM_TIMEOUT'), String(err)).to.equal(true);
    }
    expect(isVmProcessAlive(rt.pid, id), 'a foreign shutdown did not stop it').to.equal(true);
    const pending = sendRequest(f.stateDir, id, randomUUID(), { kind: 'shutdown' }, { timeoutMs: 10_000, alive: () => isVmProcessAlive(rt.pid, id) });
    process.kill(rt.pid, 'SIGKILL');
    try {
      await pending;
      expect.fail('answered');
    } catch (err) {
      expect(hasCode(err, 'VM_WRONG_STATE'), String(err)).to.equal(true);
    }
  });
});
