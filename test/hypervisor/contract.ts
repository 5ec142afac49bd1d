import type { Hypervisor, VmId } from '../../src/hypervisor/types';
import { freezeCases } from './contract-cases/freeze';
import { inventoryCases } from './contract-cases/inventory';
import { lifecycleCases } from './contract-cases/lifecycle';
import { replicaCases } from './contract-cases/replica';

// The ONE contract every hypervisor driver passes (simulated, and Hyper-V on the mock module).
// The fixture interface is described in /work/notes/contract.md and docs/simulated-hypervisor.md.

/** What a host under test looks like (each fixture is one independent host). */
export interface FixtureOptions {
  switchNames: string[];
  hostMemoryBytes: number;
}

export interface VmSpec {
  name: string;
  memoryBytes: number;
  processorCount: number;
  disks: Array<{ sizeBytes: number; subformat: 'fixed' | 'dynamic' }>;
  switchName?: string;
  macAddress?: string;
}

/** One host plus the test-only powers a driver contract needs ("the guest writes", "read the disk"). */
export interface DriverFixture {
  hypervisor: Hypervisor;
  workDir: string;
  changeGranularityBytes: number;
  createVm(spec: VmSpec): Promise<VmId>;
  guestWrite(vmId: VmId, virtualOffset: number, length: number, pattern: number, diskIndex?: number): Promise<void>;
  readVirtual(path: string, offset: number, length: number): Promise<Buffer>;
  cleanup(): Promise<void>;
}

/** Registers the whole driver contract as mocha suites. */
export function runDriverContract(driverName: string, makeFixture: (o: FixtureOptions) => Promise<DriverFixture>): void {
  describe(`hypervisor driver contract: ${driverName}`, function () {
    this.timeout(60_000);
    inventoryCases(makeFixture);
    lifecycleCases(makeFixture);
    freezeCases(makeFixture);
    replicaCases(makeFixture);
  });
}
