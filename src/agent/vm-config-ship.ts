import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { fileName, type LoadedConfig, type ResolvedModule } from '../config';
import { VmmirrorError } from '../errors';
import type { Hypervisor, VmId, VmInfo } from '../hypervisor/types';
import type { Logger } from '../log';
import type { PeerConnection } from '../peer';
import { pathKey } from './cycle-sources';
import { VM_CONFIG_LIMITS, VmConfigCommit, VmConfigPart } from './messages';
import { EXPORT_FILE } from './vm-config-store';

// The runner's half of "Registering the replica" (docs/cluster.md): after a cycle (the frozen view
// is released by then, and Hyper-V must never export while one is open), check cheaply whether
// the VM's configuration changed since it was last sent (a hash of what the driver reports), and
// if so export it (configuration only) and send it to the peer in bounded parts. Checked after
// every cycle for a while after this agent starts the VM or starts itself, then at most every
// CHECK_INTERVAL_MS: a VM's configuration rarely changes, and a check costs a driver call.

const CHECK_INTERVAL_MS = 60_000;
const EXPORT_TIMEOUT_MS = 60_000;
const SEND_TIMEOUT_MS = 30_000;

/** What a registration depends on, in a stable order: a change of any of it is worth a new export. */
export function vmConfigHash(vm: VmInfo): string {
  const facts = {
    id: vm.id, name: vm.name, memoryBytes: vm.memoryBytes, processorCount: vm.processorCount, configurationVersion: vm.configurationVersion, generation: vm.generation,
    disks: vm.disks.map((d) => [pathKey(d.basePath), d.controllerType, d.controllerNumber, d.controllerLocation]),
    adapters: vm.networkAdapters.map((n) => [n.name, n.macAddress, n.dynamicMac, n.switchName]),
  };
  return createHash('sha256').update(JSON.stringify(facts)).digest('hex');
}

/** The module's configured disk names in the VM's disk order; null when a disk of the VM is not one of the module's. */
export function diskNamesOf(m: ResolvedModule, vm: VmInfo): string[] | null {
  const names: string[] = [];
  for (const d of vm.disks) {
    if (m.disks === 'auto') names.push(fileName(d.basePath));
    else {
      const c = m.disks.find((x) => pathKey(x.localPath) === pathKey(d.basePath));
      if (c === undefined) return null;
      names.push(c.name);
    }
  }
  return names;
}

async function filesUnder(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(dir, e.name));
      else if (e.isFile()) out.push(relative(root, join(dir, e.name)).split(sep).join('/'));
    }
  };
  await walk(root);
  return out.sort();
}

async function sha256Of(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export interface ShipperDeps {
  config: LoadedConfig;
  /** The lane that freezes: an export runs between cycles of the module on it. */
  hypervisor: Hypervisor;
  connection(timeoutMs: number): Promise<PeerConnection>;
  vmIdOf(m: ResolvedModule): Promise<VmId>;
  log: Logger;
}

export class VmConfigShipper {
  /** Per module: the hash last stored by the peer, and when it was last checked. */
  private readonly sent = new Map<string, { hash: string; checkedAt: number }>();
  private readonly eager = new Set<string>();

  constructor(private readonly d: ShipperDeps) {}

  /** This host just started the module's VM: its configuration may have changed (a first start assigns the MAC). */
  markStarted(module: string): void {
    this.eager.add(module);
  }

  /** After a successful cycle at `epoch` (view released): sends the configuration if it changed. Never throws. */
  async afterCycle(m: ResolvedModule, epoch: number): Promise<void> {
    const last = this.sent.get(m.name);
    if (last !== undefined && !this.eager.has(m.name) && Date.now() - last.checkedAt < CHECK_INTERVAL_MS) return;
    try {
      const vm = await this.d.hypervisor.getVm(await this.d.vmIdOf(m));
      if (vm === null) return;
      const hash = vmConfigHash(vm);
      if (last?.hash === hash) {
        this.sent.set(m.name, { hash, checkedAt: Date.now() });
        // A running VM that was never started reports no MAC yet; stay eager until one is assigned.
        if (!vm.networkAdapters.some((a) => a.macAddress === '000000000000')) this.eager.delete(m.name);
        return;
      }
      await this.ship(m, vm, hash, epoch);
      this.sent.set(m.name, { hash, checkedAt: Date.now() });
    } catch (err) {
      this.d.log.warn({ module: m.name, err, code: err instanceof VmmirrorError ? err.code : undefined }, 'could not send the VM configuration to the peer; retried after the next cycle');
    }
  }

  private async ship(m: ResolvedModule, vm: VmInfo, hash: string, epoch: number): Promise<void> {
    const disks = diskNamesOf(m, vm);
    if (disks === null) throw new VmmirrorError('CONFIG_INVALID', `module ${m.name}: the VM has disks the module does not list (${vm.disks.map((x) => x.basePath).join(', ')}); the peer could not register it over its copies`);
    const dir = join(this.d.config.dataDir, 'state', m.name, 'vm-config-export');
    await rm(dir, { recursive: true, force: true });
    try {
      const exported = await this.d.hypervisor.exportConfig(vm.id, dir, { timeoutMs: EXPORT_TIMEOUT_MS });
      const names = await filesUnder(exported.configDir);
      const files = [];
      for (const name of names) {
        // The peer takes only the layout an export has, every file named by the VM's id: say so here, before sending.
        if (!EXPORT_FILE.test(name) || !name.toLowerCase().startsWith(`virtual machines/${vm.id.toLowerCase()}.`)) throw new VmmirrorError('VM_CONFIG_INVALID', `the export of ${m.name} holds ${JSON.stringify(name)}, which the peer would refuse`);
        const path = join(exported.configDir, name);
        files.push({ name, path, size: (await stat(path)).size, sha256: await sha256Of(path) });
      }
      if (files.length === 0 || files.length > VM_CONFIG_LIMITS.files || files.reduce((n, f) => n + f.size, 0) > VM_CONFIG_LIMITS.totalBytes) {
        throw new VmmirrorError('VM_CONFIG_INVALID', `the export of ${m.name} has ${files.length} files of ${files.reduce((n, f) => n + f.size, 0)} bytes, outside the limits (${VM_CONFIG_LIMITS.files} files, ${VM_CONFIG_LIMITS.totalBytes} bytes)`);
      }
      const conn = await this.d.connection(5000);
      const transfer = randomBytes(16).toString('hex');
      for (const [i, f] of files.entries()) {
        let offset = 0;
        // Bounded memory: one part in flight, read from the file as it goes.
        for await (const chunk of createReadStream(f.path, { highWaterMark: VM_CONFIG_LIMITS.partBytes })) {
          const data = chunk as Buffer;
          await conn.request(VmConfigPart, { module: m.name, epoch, transfer, file: i, offset, data: data.toString('base64') }, { timeoutMs: SEND_TIMEOUT_MS });
          offset += data.length;
        }
      }
      const adapters = vm.networkAdapters.map((a) => ({ name: a.name, macAddress: a.macAddress, dynamicMac: a.dynamicMac }));
      await conn.request(VmConfigCommit, { module: m.name, epoch, transfer, vmId: vm.id, configHash: hash, disks, adapters, files: files.map(({ name, size, sha256 }) => ({ name, size, sha256 })) }, { timeoutMs: SEND_TIMEOUT_MS });
      this.d.log.info({ event: 'vm-config-sent', module: m.name, vmId: vm.id, files: files.length, bytes: files.reduce((n, f) => n + f.size, 0) }, `${m.name}: VM configuration sent to ${this.d.config.peer.Name}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
