import type { HostInfo, VmInfo, VmState } from '../types';
import { isGuestHung } from './guest-hang';
import { describeDisk } from './virtual-disk';
import { SimFreeze, SimRuntime, type SimHostConfig, type SimVmRecord } from './schemas';
import { listVmIds, readJson, readVmRecord, vmPaths } from './store';
import { isVmProcessAlive } from './vm-launch';
import { overlayPath } from './vm-disks';

// What a VM looks like from outside, derived from its record plus whether its process lives:
// a record that says Running with a dead process is a VM whose host crashed, so it is Off.

export interface Observed {
  record: SimVmRecord;
  state: VmState;
  runtime: SimRuntime | null;
  /** The live process's pid and boot id, when it runs. */
  alive: boolean;
}

/** The VM's record and its real state now; null when the host has no such VM. */
export function observeVm(stateDir: string, id: string): Observed | null {
  const record = readVmRecord(stateDir, id);
  if (record === null) return null;
  const runtime = readJson(vmPaths(stateDir, id).runtime, SimRuntime);
  const alive = runtime !== null && isVmProcessAlive(runtime.pid, id);
  let state: VmState = record.state;
  if (record.state === 'Running') state = alive ? (runtime?.ready === true ? 'Running' : 'Starting') : 'Off';
  return { record, state, runtime, alive };
}

// Hyper-V says LostCommunication when a guest that answered stops answering.
function heartbeatOf(stateDir: string, o: Observed): VmInfo['heartbeat'] {
  if (o.state === 'Starting') return 'NoContact';
  if (o.state !== 'Running') return null;
  return o.runtime !== null && isGuestHung(stateDir, o.record.id, o.runtime.bootId) ? 'LostCommunication' : 'OkApplicationsHealthy';
}

/** The public VmInfo of an observed VM (disk facts read from the files). */
export async function toVmInfo(stateDir: string, o: Observed): Promise<VmInfo> {
  const freeze = readJson(vmPaths(stateDir, o.record.id).freeze, SimFreeze);
  const disks = [];
  for (const d of o.record.disks) {
    // A replica being applied, or a missing file, must not hide the VM: its disk reads as Unknown.
    const facts = await describeDisk(d.path, d.format === 'VHDX' ? 'VHDX' : 'Raw').catch(() => ({ sizeBytes: 0, type: 'Unknown' as const, fileSizeBytes: 0 }));
    disks.push({
      path: freeze === null ? d.path : overlayPath(d.path, freeze.viewId),
      basePath: d.path,
      format: d.format === 'VHDX' ? ('VHDX' as const) : ('Other' as const),
      type: facts.type,
      controllerType: d.controllerType,
      controllerNumber: d.controllerNumber,
      controllerLocation: d.controllerLocation,
      sizeBytes: facts.sizeBytes,
      fileSizeBytes: facts.fileSizeBytes,
    });
  }
  return {
    id: o.record.id,
    name: o.record.name,
    state: o.state,
    heartbeat: heartbeatOf(stateDir, o),
    memoryBytes: o.record.memoryBytes,
    processorCount: o.record.processorCount,
    configurationVersion: o.record.configurationVersion,
    generation: o.record.generation,
    disks,
    networkAdapters: o.record.networkAdapters.map((n) => ({ ...n })),
  };
}

/** Memory used by VMs whose process lives (Running or Starting). */
export async function usedMemory(stateDir: string): Promise<number> {
  let used = 0;
  for (const id of await listVmIds(stateDir)) {
    const o = observeVm(stateDir, id);
    if (o !== null && (o.state === 'Running' || o.state === 'Starting')) used += o.record.memoryBytes;
  }
  return used;
}

/** Host facts as the Hypervisor interface reports them. */
export async function hostInfo(stateDir: string, host: SimHostConfig): Promise<HostInfo> {
  const used = await usedMemory(stateDir);
  return {
    name: host.name,
    totalMemoryBytes: host.totalMemoryBytes,
    freeMemoryBytes: Math.max(0, host.totalMemoryBytes - used),
    logicalProcessorCount: host.logicalProcessorCount,
    switchNames: [...host.switchNames],
    maxConfigurationVersion: host.maxConfigurationVersion,
  };
}
