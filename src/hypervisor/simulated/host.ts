import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { UsageError } from '../../errors';
import { runOk } from '../../util/exec';
import { readVhdxLayout } from '../../replication/vhdx';
import type { VmId } from '../types';
import { SimHostConfig, SimRuntime, type SimVmRecord, type SimWriter } from './schemas';
import { hostPaths, isVmId, listVmIds, readJson, readVmRecord, vmPaths, writeJsonAtomic, writeVmRecord } from './store';
import { isVmProcessAlive, killVmProcess, vmProcessesOf } from './vm-launch';

// Making simulated hosts and VMs (what an administrator does with Hyper-V Manager), and
// crashing a host. Used by tests, end-to-end tests and `vmmirror demo`.

/** Creates (or overwrites the config of) a simulated host in `stateDir`. */
export async function createSimulatedHost(stateDir: string, config: Partial<SimHostConfig> = {}): Promise<SimHostConfig> {
  const host = SimHostConfig.parse({
    name: 'sim-host', totalMemoryBytes: 16 * 1024 ** 3, logicalProcessorCount: 8, switchNames: ['LAN'], maxConfigurationVersion: '12.0', ...config,
  });
  const p = hostPaths(stateDir);
  await mkdir(p.vmsDir, { recursive: true });
  await mkdir(p.disksDir, { recursive: true });
  writeJsonAtomic(p.hostFile, host);
  return host;
}

export type SimDiskSpec =
  | { sizeBytes: number; subformat: 'fixed' | 'dynamic' | 'raw'; blockSizeBytes?: number }
  | { path: string; format: 'VHDX' | 'Raw' };

export interface SimVmSpec {
  name: string;
  /** Defaults to a random GUID. */
  id?: VmId;
  memoryBytes?: number;
  processorCount?: number;
  configurationVersion?: string;
  /** New disks are made in `<stateDir>/disks/<id>-<n>.vhdx|.raw`; existing files are used in place. */
  disks: SimDiskSpec[];
  /** One adapter per entry; a string is its switch name, null = not connected. */
  switchNames?: Array<string | null>;
  /** Static MACs per adapter; absent = a dynamic MAC is assigned. */
  macAddresses?: Array<string | undefined>;
  writer?: Partial<SimWriter>;
}

// qemu-img leaves a fixed VHDX's blocks in the ZERO state; Hyper-V's fixed disks have every block
// FULLY_PRESENT. One zero-write per block (through QEMU) makes ours the same.
async function allocateAllBlocks(path: string): Promise<void> {
  const layout = await readVhdxLayout(path);
  const blocks = Math.ceil(layout.virtualDiskSize / layout.blockSize);
  for (let b0 = 0; b0 < blocks; b0 += 256) {
    const args = ['-f', 'vhdx'];
    for (let b = b0; b < Math.min(blocks, b0 + 256); b++) args.push('-c', `write -q -P 0 ${b * layout.blockSize} 512`);
    await runOk('qemu-io', [...args, path], { timeoutMs: 60_000 });
  }
}

function dynamicMac(): string {
  return `00155D${randomBytes(3).toString('hex').toUpperCase()}`;
}

/** Creates an Off VM with its disks; returns its id. */
export async function createSimulatedVm(stateDir: string, spec: SimVmSpec): Promise<VmId> {
  const id = spec.id ?? randomUUID();
  if (!isVmId(id)) throw new UsageError(`VM id must be a lower-case GUID: ${JSON.stringify(id)}`);
  if (readVmRecord(stateDir, id) !== null) throw new UsageError(`VM ${id} already exists`);
  const disks: SimVmRecord['disks'] = [];
  for (const [i, d] of spec.disks.entries()) {
    const at = { controllerType: 'SCSI' as const, controllerNumber: 0, controllerLocation: i };
    if ('path' in d) {
      disks.push({ path: d.path, format: d.format, ...at });
      continue;
    }
    const raw = d.subformat === 'raw';
    const path = join(hostPaths(stateDir).disksDir, `${id}-${i}.${raw ? 'raw' : 'vhdx'}`);
    if (raw) {
      const fh = await open(path, 'wx');
      await fh.truncate(d.sizeBytes);
      await fh.close();
    } else {
      const opts = [`subformat=${d.subformat}`, ...(d.blockSizeBytes === undefined ? [] : [`block_size=${d.blockSizeBytes}`])];
      await runOk('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', opts.join(','), path, String(d.sizeBytes)]);
      if (d.subformat === 'fixed') await allocateAllBlocks(path);
    }
    disks.push({ path, format: raw ? 'Raw' : 'VHDX', ...at });
  }
  const switches = spec.switchNames ?? [];
  await writeVmRecord(stateDir, {
    id,
    name: spec.name,
    state: 'Off',
    memoryBytes: spec.memoryBytes ?? 512 * 1024 * 1024,
    processorCount: spec.processorCount ?? 2,
    configurationVersion: spec.configurationVersion ?? '9.0',
    generation: 2,
    disks,
    networkAdapters: switches.map((s, i) => {
      const mac = spec.macAddresses?.[i];
      return { name: 'Network Adapter', switchName: s, macAddress: mac?.toUpperCase() ?? dynamicMac(), dynamicMac: mac === undefined };
    }),
    writer: { ratePerSecond: 0, unitsPerWrite: 1, seed: 1, ...spec.writer },
  });
  return id;
}

/** Simulates a host crash: SIGKILLs every VM process of the host (starting ones too) and waits until they are gone. Returns the pids killed. */
export async function crashSimulatedHost(stateDir: string, timeoutMs = 10_000): Promise<number[]> {
  // A new epoch first: a VM process caught between spawn and exec sees it and stops by itself.
  writeJsonAtomic(hostPaths(stateDir).epochFile, { epoch: randomUUID() });
  const killed = await simulatedVmPids(stateDir);
  for (const k of killed) killVmProcess(k.pid, k.vmId);
  const deadline = Date.now() + timeoutMs;
  while (killed.some((k) => isVmProcessAlive(k.pid, k.vmId))) {
    if (Date.now() > deadline) throw new Error(`VM processes survived SIGKILL for ${timeoutMs} ms`);
    await sleep(10);
  }
  return killed.map((k) => k.pid);
}

/** Pids of the host's live VM processes (by command line on Linux, else from runtime.json files). */
export async function simulatedVmPids(stateDir: string): Promise<Array<{ vmId: VmId; pid: number }>> {
  const scanned = vmProcessesOf(stateDir);
  if (scanned !== null) return scanned.sort((a, b) => a.vmId.localeCompare(b.vmId));
  const out: Array<{ vmId: VmId; pid: number }> = [];
  for (const id of await listVmIds(stateDir)) {
    const rt = readJson(vmPaths(stateDir, id).runtime, SimRuntime);
    if (rt !== null && isVmProcessAlive(rt.pid, id)) out.push({ vmId: id, pid: rt.pid });
  }
  return out;
}
