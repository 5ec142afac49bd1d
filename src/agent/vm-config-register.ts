import type { LoadedConfig, ResolvedModule } from '../config';
import { HypervisorError, VmmirrorError, hasCode } from '../errors';
import type { Hypervisor, VmId, VmInfo } from '../hypervisor/types';
import type { Logger } from '../log';
import { pathKey } from './cycle-sources';
import type { StoredVmConfig, VmConfigStore } from './vm-config-store';

// The holder's half of "Registering the replica" (docs/cluster.md): at a takeover or failback on
// a host where the module's VM is not registered, register it in place (same id) from the export
// the running host sent, over THIS host's own disk copies, and pin each adapter to the MAC the VM
// had there, so the guest keeps its address. Then the caller starts it.

const REGISTER_TIMEOUT_MS = 120_000;
export const ZERO_MAC = '000000000000';

export interface RegisterDeps {
  config: LoadedConfig;
  /** The control lane (start, stop, fence): registration is part of a start. */
  control: Hypervisor;
  store: VmConfigStore;
  log: Logger;
}

function notRegistered(config: LoadedConfig, m: ResolvedModule, why: string): HypervisorError {
  return new HypervisorError('VM_NOT_REGISTERED', `module ${m.name}: no replica VM is registered on ${config.self.Name} and ${why}; register it by hand over this host's copies (docs/cluster.md "Registering the replica"), or let the host that runs it complete a replication cycle, which sends its configuration`, {
    details: { module: m.name },
  });
}

/** This host's copy of each exported disk, in the export's order (names select among the module's configured disks only). */
export function localDiskPaths(m: ResolvedModule, record: StoredVmConfig): string[] {
  if (m.disks === 'auto') throw new VmmirrorError('VM_CONFIG_INVALID', `module ${m.name}: Disks is "auto", so nothing on this host names its copies; list the disks in modules/${m.name}.json`);
  const disks = m.disks;
  if (record.Disks.length !== disks.length) throw new VmmirrorError('VM_CONFIG_INVALID', `module ${m.name}: the exported VM has ${record.Disks.length} disks [${record.Disks.join(', ')}], the module lists ${disks.length}`);
  if (new Set(record.Disks).size !== record.Disks.length) throw new VmmirrorError('VM_CONFIG_INVALID', `module ${m.name}: the exported VM names a disk twice [${record.Disks.join(', ')}]; one copy would be attached twice and another not at all`);
  return record.Disks.map((name) => {
    const d = disks.find((x) => x.name === name);
    if (d === undefined) throw new VmmirrorError('VM_CONFIG_INVALID', `module ${m.name}: the exported VM's disk ${JSON.stringify(name)} is not one the module lists (${disks.map((x) => x.name).join(', ')})`);
    return d.localPath;
  });
}

/**
 * Pins each adapter of a registered, Off replica to the MAC it had on the host that ran it. An
 * exported MAC of all zeros (a VM never started there) is not pinned; adapters are matched by name
 * when names are unique, else by position.
 */
export async function pinExportedMacs(control: Hypervisor, vm: VmInfo, exported: StoredVmConfig['Adapters'], log: Logger): Promise<VmInfo> {
  let now = vm;
  const unique = new Set(vm.networkAdapters.map((a) => a.name)).size === vm.networkAdapters.length;
  for (const [i, want] of exported.entries()) {
    if (want.macAddress === ZERO_MAC) {
      log.warn({ vmId: vm.id, adapter: want.name }, 'the exported adapter has no MAC yet (the VM never started there): not pinned');
      continue;
    }
    const have = unique ? now.networkAdapters.find((a) => a.name === want.name) : now.networkAdapters[i];
    if (have === undefined) continue;
    if (!have.dynamicMac && have.macAddress === want.macAddress) continue;
    if (unique) now = await control.setStaticMac(vm.id, { adapterName: want.name, mac: want.macAddress });
    else if (have.macAddress === want.macAddress) now = await control.setStaticMac(vm.id, {});
    else log.warn({ vmId: vm.id, adapter: want.name }, 'adapters share a name and the registered MAC differs: not pinned');
  }
  return now;
}

/**
 * Registers the module's VM here from the stored export and returns its id. VM_NOT_REGISTERED
 * when no export is stored; VM_INCOMPATIBLE (with `details.issues`) when the driver's compare
 * finds any; VM_CONFIG_INVALID when the export does not fit the module.
 */
export async function registerFromStoredConfig(d: RegisterDeps, m: ResolvedModule): Promise<VmId> {
  let paths: string[] = [];
  // Checked and pinned in one step of the store: a commit landing in between cannot prune it.
  const stored = await d.store.pinCurrent(m.name, (record) => {
    if (m.vmId !== undefined && m.vmId.toLowerCase() !== record.VmId) throw new VmmirrorError('VM_CONFIG_INVALID', `module ${m.name}: the stored export is of VM ${record.VmId}, the module names VmId ${m.vmId}`);
    paths = localDiskPaths(m, record);
  });
  if (stored === null) throw notRegistered(d.config, m, 'no exported configuration from the peer is stored here');
  const { record, configDir } = stored;
  // This host has no VM of the module (the caller looked), yet one with the export's id, or one
  // over this host's copies, may be registered here: never register over it (a driver may replace
  // it, or two VMs would share the copies). One of the export's id, Off, over exactly these copies
  // is adopted (a retry after a crash), as Register-MirrorReplicaVm does.
  const mine = new Set(paths.map(pathKey));
  for (const vm of await d.control.listVms()) {
    const theirs = vm.disks.map((x) => pathKey(x.basePath));
    if (vm.id === record.VmId && theirs.length === paths.length && theirs.every((p, i) => p === pathKey(paths[i]!))) {
      if (vm.state !== 'Off') throw new HypervisorError('VM_WRONG_STATE', `module ${m.name}: VM ${vm.id} is registered over this host's copies but is ${vm.state}; a replica must be Off`, { details: { module: m.name, state: vm.state } });
      continue;
    }
    const shared = vm.disks.filter((x) => mine.has(pathKey(x.basePath))).map((x) => x.basePath);
    if (vm.id !== record.VmId && shared.length === 0) continue;
    const why = vm.id === record.VmId ? `VM ${vm.id} (${vm.name}) is already registered on ${d.config.self.Name} with other disks (${vm.disks.map((x) => x.basePath).join(', ')})` : `this host's copies ${shared.join(', ')} are attached to VM ${vm.id} (${vm.name})`;
    throw new HypervisorError('VM_ALREADY_REGISTERED', `module ${m.name}: ${why}; remove that VM, or make it the module's VM (VmId)`, { details: { module: m.name, vmId: vm.id, diskPaths: vm.disks.map((x) => x.basePath) } });
  }
  const t0 = performance.now();
  let vm: VmInfo;
  try {
    vm = await d.control.registerReplica(configDir, paths, { timeoutMs: REGISTER_TIMEOUT_MS });
  } catch (err) {
    if (hasCode(err, 'VM_INCOMPATIBLE')) {
      const issues = (err as VmmirrorError).details.issues as Array<{ kind: string; message: string }> | undefined;
      throw new HypervisorError('VM_INCOMPATIBLE', `module ${m.name}: the replica VM cannot be registered on ${d.config.self.Name}: ${(issues ?? []).map((i) => `${i.kind}: ${i.message}`).join('; ') || (err as Error).message}`, { cause: err, details: { ...(err as VmmirrorError).details, module: m.name } });
    }
    throw err;
  }
  if (vm.id !== record.VmId) throw new HypervisorError('HYPERVISOR_ERROR', `module ${m.name}: registering gave VM ${vm.id}, the export is of ${record.VmId}`);
  vm = await pinExportedMacs(d.control, vm, record.Adapters, d.log);
  d.log.info(
    { event: 'replica-registered', module: m.name, vmId: vm.id, disks: vm.disks.map((x) => x.basePath), macs: vm.networkAdapters.map((a) => a.macAddress), ms: Math.round(performance.now() - t0) },
    `${m.name}: replica VM registered on ${d.config.self.Name} over its own copies`,
  );
  return vm.id;
}

/**
 * Before a start (VM Off): pins a dynamic MAC the VM already has (Hyper-V changes one only while
 * Off). After a start: pins one assigned by this first start where the driver allows it while
 * running (the simulated one does; Hyper-V refuses, VM_WRONG_STATE, and the pin happens before
 * the next start, while the peer's copy is pinned from the export at its registration).
 */
export async function pinDynamicMacs(control: Hypervisor, id: VmId, log: Logger, module: string): Promise<void> {
  const vm = await control.getVm(id);
  if (vm === null || !vm.networkAdapters.some((a) => a.dynamicMac && a.macAddress !== ZERO_MAC)) return;
  try {
    // The whole VM at once, unless an adapter still has no MAC (it would refuse): then by name.
    if (vm.networkAdapters.every((a) => a.macAddress !== ZERO_MAC)) await control.setStaticMac(id, {});
    else for (const a of vm.networkAdapters) if (a.dynamicMac && a.macAddress !== ZERO_MAC && vm.networkAdapters.filter((x) => x.name === a.name).length === 1) await control.setStaticMac(id, { adapterName: a.name });
    log.info({ event: 'mac-pinned', module, vmId: id, macs: vm.networkAdapters.map((a) => a.macAddress) }, `${module}: MAC address pinned`);
  } catch (err) {
    if (hasCode(err, 'VM_WRONG_STATE')) log.info({ module, vmId: id }, 'the MAC is pinned while the VM is off (before its next start)');
    else log.warn({ module, vmId: id, err }, 'could not pin the MAC address');
  }
}
