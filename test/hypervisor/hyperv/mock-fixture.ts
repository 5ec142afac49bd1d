import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { HypervDriver } from '../../../src/hypervisor/hyperv/driver';
import { PsRunner } from '../../../src/hypervisor/hyperv/ps-runner';
import type { VmId } from '../../../src/hypervisor/types';
import { tempDir } from '../../helpers/tmp';
import type { DriverFixture, FixtureOptions, VmSpec } from '../contract';
import { readVirtualQemu } from '../qemu-read';
import { mockModule, mockScriptDir, psDir, pwshPath } from './pwsh';

// One mock Hyper-V host: a state folder, one pwsh session (driver scripts and the mock's test
// helpers share it), and the real HypervDriver on top.

const T = { timeoutMs: 30_000 };

export interface MockHost extends DriverFixture {
  hypervisor: HypervDriver;
  runner: PsRunner;
  stateDir: string;
  /** Runs a mock helper op (NewVm, GuestWrite, SetHost, GetState). */
  mock(op: string, args: object): Promise<unknown>;
  /** Creates a VM with full control over the mock's fields (Id, State, Version, HeartbeatDelayMs, disk paths...). */
  createVmRaw(args: Record<string, unknown>): Promise<VmId>;
}

/** A mock Hyper-V host shaped like the driver contract's fixture. */
export async function makeMockHost(o: FixtureOptions, extra: { env?: Record<string, string>; scriptDirs?: string[]; importModules?: string[] } = {}): Promise<MockHost> {
  const tmp = await tempDir('vmmirror-hyperv-');
  const stateDir = join(tmp.dir, 'state');
  const workDir = join(tmp.dir, 'work');
  await mkdir(stateDir, { recursive: true });
  await mkdir(workDir, { recursive: true });
  const runner = new PsRunner({
    executable: pwshPath(),
    importModules: [mockModule, ...(extra.importModules ?? [])],
    scriptDirs: [psDir, mockScriptDir, ...(extra.scriptDirs ?? [])],
    env: { MOCK_HYPERV_STATE: stateDir, ...extra.env },
  });
  const hypervisor = new HypervDriver({ runner });
  const mock = (op: string, args: object): Promise<unknown> => runner.invoke('Invoke-MockHyperV', { Op: op, Args: args }, z.unknown(), T);
  let counter = 0;
  const createVmRaw = async (args: Record<string, unknown>): Promise<VmId> => {
    const r = z.object({ Id: z.string() }).parse(await mock('NewVm', args));
    return r.Id;
  };
  await mock('SetHost', { Switches: o.switchNames, TotalMemoryBytes: o.hostMemoryBytes, StartMs: 200, StopMs: 200 });
  const createVm = (spec: VmSpec): Promise<VmId> => {
    const n = counter++;
    return createVmRaw({
      Name: spec.name,
      MemoryBytes: spec.memoryBytes,
      ProcessorCount: spec.processorCount,
      Disks: spec.disks.map((d, i) => ({
        Path: join(workDir, 'disks', `vm${n}-disk${i}.vhdx`),
        SizeBytes: d.sizeBytes,
        Subformat: d.subformat === 'fixed' ? 'Fixed' : 'Dynamic',
      })),
      Adapters: [
        spec.macAddress === undefined
          ? { SwitchName: spec.switchName ?? null }
          : { SwitchName: spec.switchName ?? null, MacAddress: spec.macAddress, DynamicMac: false },
      ],
    });
  };
  return {
    hypervisor,
    runner,
    stateDir,
    workDir,
    changeGranularityBytes: 1,
    mock,
    createVmRaw,
    createVm,
    async guestWrite(vmId, virtualOffset, length, pattern, diskIndex = 0) {
      await mock('GuestWrite', { VmId: vmId, DiskIndex: diskIndex, Offset: virtualOffset, Length: length, Pattern: pattern });
    },
    readVirtual: (path, offset, length) => readVirtualQemu(path, offset, length),
    async cleanup() {
      await runner.close();
      await tmp.cleanup();
    },
  };
}
