import { mkdir, readdir, rm } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { HypervisorError } from '../../errors';
import type { CompatibilityIssue, ExportedConfig, HostInfo } from '../types';
import { SimVmRecord, type SimHostConfig } from './schemas';
import { readJson, vmPaths, writeJsonAtomic, writeVmRecord } from './store';
import { describeDisk } from './virtual-disk';

// Export and registration of a replica VM, the simulated Export-VM / Compare-VM / Import-VM:
// the exported configuration is the VM record (JSON) in `<dest>/Virtual Machines/<id>.vmcx`.

export const ExportedVm = z.object({
  format: z.literal('vmmirror-simulated-vm/1'),
  vm: SimVmRecord,
});
export type ExportedVm = z.infer<typeof ExportedVm>;

/** Writes the configuration of `record` into `destDir`. */
export async function writeExport(record: SimVmRecord, destDir: string): Promise<ExportedConfig> {
  const dir = join(destDir, 'Virtual Machines');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${record.id}.vmcx`);
  writeJsonAtomic(file, { format: 'vmmirror-simulated-vm/1', vm: { ...record, state: 'Off' } } satisfies ExportedVm);
  // Relative to configDir, as the Hyper-V driver reports them.
  return { vmId: record.id, configDir: destDir, files: [`Virtual Machines/${record.id}.vmcx`] };
}

/**
 * Reads the one exported VM of a config folder; HYPERVISOR_ERROR when there is not exactly one.
 * The file is named `<VmId>.vmcx` and everything before registration (the store's checks, the
 * lookup of a VM already here) goes by that name, while registering goes by the contents: a
 * `.vmcx` whose record names another VM is VM_CONFIG_INVALID, or it would rewrite that VM.
 */
export async function readExport(configDir: string): Promise<ExportedVm> {
  const dir = join(configDir, 'Virtual Machines');
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.vmcx'));
  } catch (err) {
    throw new HypervisorError('HYPERVISOR_ERROR', `no exported configuration in ${configDir}`, { cause: err, details: { configDir } });
  }
  if (names.length !== 1) throw new HypervisorError('HYPERVISOR_ERROR', `expected one .vmcx in ${dir}, found ${names.length}`, { details: { configDir } });
  const exported = readJson(join(dir, names[0]!), ExportedVm);
  if (exported === null) throw new HypervisorError('HYPERVISOR_ERROR', `exported configuration vanished from ${dir}`, { details: { configDir } });
  const named = names[0]!.slice(0, -'.vmcx'.length);
  if (named.toLowerCase() !== exported.vm.id.toLowerCase()) {
    throw new HypervisorError('VM_CONFIG_INVALID', `${names[0]} in ${dir} holds the configuration of VM ${exported.vm.id}, not of the VM its name says; refused before anything was registered`, { details: { configDir, fileVmId: named, contentVmId: exported.vm.id } });
  }
  return exported;
}

function versionNumber(v: string): number {
  const [a, b] = v.split('.').map(Number);
  return (a ?? 0) * 1000 + (b ?? 0);
}

/** Compare-VM's verdict: what stops this VM from being registered here (memory is not checked). */
export function compareVm(vm: SimVmRecord, host: SimHostConfig): CompatibilityIssue[] {
  const issues: CompatibilityIssue[] = [];
  for (const n of vm.networkAdapters) {
    if (n.switchName !== null && !host.switchNames.includes(n.switchName)) {
      issues.push({ kind: 'MissingSwitch', message: `Could not find Ethernet switch '${n.switchName}'.`, messageId: 33012 });
    }
  }
  if (versionNumber(vm.configurationVersion) > versionNumber(host.maxConfigurationVersion)) {
    issues.push({ kind: 'ConfigurationVersion', message: `Configuration version ${vm.configurationVersion} is newer than this host supports (${host.maxConfigurationVersion}).` });
  }
  if (vm.processorCount > host.logicalProcessorCount) {
    issues.push({ kind: 'Processor', message: `The VM has ${vm.processorCount} virtual processors; this host has ${host.logicalProcessorCount} logical processors.` });
  }
  return issues;
}

/** Adds the memory check of a readiness answer. */
export function memoryIssue(memoryBytes: number, host: HostInfo): CompatibilityIssue[] {
  if (memoryBytes <= host.freeMemoryBytes) return [];
  return [{ kind: 'Memory', message: `The VM needs ${memoryBytes} bytes of memory; ${host.freeMemoryBytes} bytes are free.` }];
}

/** Problems with the disk paths given for a replica (count, absolute, readable as the exported format). */
export async function diskIssues(vm: SimVmRecord, diskPaths: string[]): Promise<CompatibilityIssue[]> {
  if (diskPaths.length !== vm.disks.length) {
    return [{ kind: 'Other', message: `The exported VM has ${vm.disks.length} disks; ${diskPaths.length} paths were given.` }];
  }
  const issues: CompatibilityIssue[] = [];
  for (const [i, p] of diskPaths.entries()) {
    if (!isAbsolute(p)) {
      issues.push({ kind: 'Other', message: `Disk path ${JSON.stringify(p)} is not absolute.` });
      continue;
    }
    try {
      await describeDisk(p, vm.disks[i]!.format === 'VHDX' ? 'VHDX' : 'Raw');
    } catch (err) {
      issues.push({ kind: 'Other', message: `Virtual hard disk ${JSON.stringify(p)} cannot be used: ${(err as Error).message}`, messageId: 40010 });
    }
  }
  return issues;
}

/** Writes the replica's record (same id, Off, disks at `diskPaths`) and clears any earlier registration's runtime files. */
export async function registerRecord(stateDir: string, vm: SimVmRecord, diskPaths: string[]): Promise<void> {
  const p = vmPaths(stateDir, vm.id);
  // New disks, new history: old change logs and a stale open view describe other files.
  await rm(p.dir, { recursive: true, force: true });
  await writeVmRecord(stateDir, { ...vm, state: 'Off', disks: vm.disks.map((d, i) => ({ ...d, path: diskPaths[i]! })) });
}
