import { fileName, type ResolvedModule } from '../config';
import { HypervisorError, ReplicationError } from '../errors';
import type { FrozenView, Hypervisor, VmId } from '../hypervisor/types';
import type { DeltaSource } from '../replication';

// Which VM and which files a cycle reads: the module's VM on this host, and its frozen disks
// matched to this host's own copies (localPath), ordered as the receiver holds them.

export function pathKey(p: string): string {
  return p.replace(/\\/g, '/').toLowerCase();
}

/** The VM of a module: by GUID when configured, else the one VM with exactly that name. */
export async function resolveVm(hv: Hypervisor, m: ResolvedModule): Promise<VmId> {
  if (m.vmId !== undefined) {
    const vm = await hv.getVm(m.vmId);
    if (vm === null) throw new HypervisorError('VM_NOT_FOUND', `module ${m.name}: no VM with id ${m.vmId}`);
    return vm.id;
  }
  const vms = await hv.findVmsByName(m.vmName);
  if (vms.length === 0) throw new HypervisorError('VM_NOT_FOUND', `module ${m.name}: no VM named ${JSON.stringify(m.vmName)}`);
  if (vms.length > 1) throw new HypervisorError('VM_AMBIGUOUS', `module ${m.name}: ${vms.length} VMs are named ${JSON.stringify(m.vmName)}; set VmId in the module file`, { details: { VmIds: vms.map((v) => v.id) } });
  return vms[0]!.id;
}

/** Which frozen disk is which configured disk (by this host's own copy, localPath); Disks "auto" takes them all. */
export function sourcesFor(m: ResolvedModule, view: FrozenView): Array<DeltaSource & { basePath: string }> {
  if (m.disks === 'auto') return view.disks.map((d) => ({ name: fileName(d.basePath), path: d.readPath, mode: 'auto' as const, basePath: d.basePath }));
  return m.disks.map((d) => {
    const frozen = view.disks.find((v) => pathKey(v.basePath) === pathKey(d.localPath));
    if (frozen === undefined) throw new ReplicationError('CONFIG_INVALID', `module ${m.name}: disk ${d.localPath} (this host's copy of ${d.name}) is not attached to the VM (it has ${view.disks.map((v) => v.basePath).join(', ')})`);
    return { name: d.name, path: frozen.readPath, mode: 'auto' as const, basePath: frozen.basePath };
  });
}

/** The receiver's targets in its order (its stream header is read by position): the same names, or STREAM_WRONG_TARGET. */
export function inReceiverOrder<T extends { name: string }>(m: ResolvedModule, sources: T[], held: Array<{ name: string }>): T[] {
  const ordered = held.map((f) => sources.find((s) => s.name === f.name));
  if (held.length !== sources.length || ordered.some((s) => s === undefined)) {
    throw new ReplicationError('STREAM_WRONG_TARGET', `module ${m.name}: the receiver holds [${held.map((f) => f.name).join(', ')}], this host sends [${sources.map((s) => s.name).join(', ')}]`);
  }
  return ordered as T[];
}
