import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createSimulatedHost, createSimulatedHypervisor, createSimulatedVm, crashSimulatedHost } from '../../../src/hypervisor/simulated';
import type { SimulatedHypervisor } from '../../../src/hypervisor/simulated';
import { tempDir } from '../../helpers/tmp';
import type { DriverFixture, FixtureOptions } from '../contract';
import { readVirtualQemu } from '../qemu-read';

// The simulated driver's contract fixture: one fresh host state folder per fixture, VMs whose
// guest writes only when asked (writer rate 0), disks read back through QEMU.

export interface SimFixture extends DriverFixture {
  hypervisor: SimulatedHypervisor;
  stateDir: string;
}

/** A fresh simulated host for the contract suite (and for this driver's own tests). */
export async function makeSimFixture(o: FixtureOptions): Promise<SimFixture> {
  const tmp = await tempDir('vmmirror-sim-');
  const stateDir = join(tmp.dir, 'host state');
  const workDir = join(tmp.dir, 'work');
  try {
    await mkdir(workDir, { recursive: true });
    await createSimulatedHost(stateDir, { switchNames: o.switchNames, totalMemoryBytes: o.hostMemoryBytes });
  } catch (err) {
    await tmp.cleanup();
    throw err;
  }
  const hypervisor = createSimulatedHypervisor(stateDir);
  return {
    hypervisor,
    stateDir,
    workDir,
    changeGranularityBytes: 1,
    createVm: (spec) => createSimulatedVm(stateDir, {
      name: spec.name,
      memoryBytes: spec.memoryBytes,
      processorCount: spec.processorCount,
      disks: spec.disks,
      switchNames: [spec.switchName ?? null],
      macAddresses: [spec.macAddress],
    }),
    guestWrite: (vmId, offset, length, pattern, diskIndex = 0) => hypervisor.guestWrite(vmId, { diskIndex, offset, length, pattern }),
    readVirtual: (path, offset, length) => readVirtualQemu(path, offset, length),
    async cleanup() {
      await crashSimulatedHost(stateDir);
      await tmp.cleanup();
    },
  };
}
