import type { ResolvedModule } from '../config';
import { ConfigError, HypervisorError } from '../errors';
import type { Hypervisor, VmInfo } from '../hypervisor/types';

// A module's balancing load: its Weight when set; else memory in GiB plus vCPU count of its VM on
// this host (a 16 GiB, 4-vCPU VM weighs 20). One GiB of memory is worth one vCPU: memory is what
// a host runs out of first, and both grow with the VM's size. The replica VM registered on the
// peer has the same memory and vCPUs (it is registered from the exported configuration), so both
// hosts compute the same loads.

export interface ModuleLoad {
  name: string;
  load: number;
  source: 'Weight' | 'Vm';
  memoryBytes: number | null;
  processorCount: number | null;
}

/** The documented formula: memory GiB + vCPUs. */
export function loadOfVm(vm: Pick<VmInfo, 'memoryBytes' | 'processorCount'>): number {
  return vm.memoryBytes / 2 ** 30 + vm.processorCount;
}

async function findVm(hv: Pick<Hypervisor, 'getVm' | 'findVmsByName'>, m: ResolvedModule): Promise<VmInfo | null> {
  if (m.vmId !== undefined) return hv.getVm(m.vmId);
  const vms = await hv.findVmsByName(m.vmName);
  if (vms.length > 1) throw new HypervisorError('VM_AMBIGUOUS', `module ${m.name}: ${vms.length} VMs are named ${JSON.stringify(m.vmName)}; set VmId (or Weight) in ${m.file}`, { details: { Module: m.name, VmIds: vms.map((v) => v.id) } });
  return vms[0] ?? null;
}

/**
 * Every module's load. The hypervisor is asked only for modules without a Weight; those whose VM
 * is not on this host are BALANCE_LOAD_UNKNOWN, all named at once (a guess would move VMs on it).
 */
export async function moduleLoads(modules: readonly ResolvedModule[], hv: Pick<Hypervisor, 'getVm' | 'findVmsByName'> | null): Promise<ModuleLoad[]> {
  const out: ModuleLoad[] = [];
  const unknown: string[] = [];
  for (const m of modules) {
    if (m.weight !== undefined) {
      out.push({ name: m.name, load: m.weight, source: 'Weight', memoryBytes: null, processorCount: null });
      continue;
    }
    const vm = hv === null ? null : await findVm(hv, m);
    if (vm === null) {
      unknown.push(m.name);
      continue;
    }
    out.push({ name: m.name, load: loadOfVm(vm), source: 'Vm', memoryBytes: vm.memoryBytes, processorCount: vm.processorCount });
  }
  if (unknown.length > 0) {
    const files = modules.filter((m) => unknown.includes(m.name)).map((m) => m.file);
    throw new ConfigError('BALANCE_LOAD_UNKNOWN', `module(s) ${unknown.join(', ')} have no Weight and no VM registered on this host to weigh: set Weight in ${files.join(', ')}, or register the VM here`, { details: { Modules: unknown } });
  }
  return out;
}
