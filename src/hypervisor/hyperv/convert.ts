// Script results (PascalCase, strings from PowerShell) -> the Hypervisor interface's shapes.
import type { CompatibilityIssue, HeartbeatStatus, VmDisk, VmInfo, VmState } from '../types';
import { HeartbeatText, VmStateText, type PsIssue, type PsVm } from './schema';

function diskFormat(s: string): VmDisk['format'] {
  return s === 'VHDX' || s === 'VHD' ? s : 'Other';
}

function diskType(s: string): VmDisk['type'] {
  return s === 'Fixed' || s === 'Dynamic' || s === 'Differencing' ? s : 'Unknown';
}

function controllerType(s: string): VmDisk['controllerType'] {
  return s === 'IDE' || s === 'SCSI' || s === 'PMEM' ? s : 'Unknown';
}

/** A state name Hyper-V may add later (the *Critical family, Hibernated) is reported as Other. */
function vmState(s: string): VmState {
  const parsed = VmStateText.safeParse(s);
  return parsed.success ? parsed.data : 'Other';
}

function heartbeat(s: string | null): HeartbeatStatus | null {
  if (s === null) return null;
  const parsed = HeartbeatText.safeParse(s);
  return parsed.success ? parsed.data : 'Unknown';
}

/** One VM as the interface describes it (ids lower-case, MACs 12 upper-case hex digits). */
export function toVmInfo(vm: PsVm): VmInfo {
  return {
    id: vm.Id.toLowerCase(),
    name: vm.Name,
    state: vmState(vm.State),
    heartbeat: heartbeat(vm.Heartbeat),
    memoryBytes: vm.MemoryBytes,
    processorCount: vm.ProcessorCount,
    configurationVersion: vm.ConfigurationVersion,
    generation: vm.Generation,
    disks: vm.Disks.map((d) => ({
      path: d.Path,
      basePath: d.BasePath,
      format: diskFormat(d.Format),
      type: diskType(d.Type),
      controllerType: controllerType(d.ControllerType),
      controllerNumber: d.ControllerNumber,
      controllerLocation: d.ControllerLocation,
      sizeBytes: d.SizeBytes,
      fileSizeBytes: d.FileSizeBytes,
    })),
    networkAdapters: vm.NetworkAdapters.map((a) => ({
      name: a.Name,
      macAddress: a.MacAddress.toUpperCase(),
      dynamicMac: a.DynamicMac,
      switchName: a.SwitchName,
    })),
  };
}

/** A readiness/registration issue in the interface's camelCase. */
export function toIssue(i: PsIssue): CompatibilityIssue {
  return i.MessageId === undefined ? { kind: i.Kind, message: i.Message } : { kind: i.Kind, message: i.Message, messageId: i.MessageId };
}

/** Sorted, merged ranges (what RCT answers in chunks becomes one union per disk). */
export function unionRanges(ranges: Array<{ offset: number; length: number }>): Array<{ offset: number; length: number }> {
  const sorted = ranges.filter((r) => r.length > 0).sort((a, b) => a.offset - b.offset);
  const out: Array<{ offset: number; length: number }> = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.offset <= last.offset + last.length) {
      last.length = Math.max(last.length, r.offset + r.length - last.offset);
    } else out.push({ offset: r.offset, length: r.length });
  }
  return out;
}
