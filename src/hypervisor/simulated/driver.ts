import { randomUUID } from 'node:crypto';
import { HypervisorError, UsageError } from '../../errors';
import { componentLogger } from '../../log';
import type { DiskReference, FrozenView, StopMode, VmInfo } from '../types';
import { appendChange, changesBetween, readChanges } from './change-log';
import { sendRequest } from './control';
import { compareVm, diskIssues, memoryIssue, readExport, registerRecord, writeExport } from './replica';
import { SimFreeze, type SimOp } from './schemas';
import { listVmIds, readHostConfig, readJson, vmPaths, writeVmRecord } from './store';
import { hostInfo, observeVm, toVmInfo, type Observed } from './vm-info';
import { describeDisk } from './virtual-disk';
import { isVmProcessAlive } from './vm-launch';
import { startVmProcess, stopVmProcess } from './lifecycle';
import { openVmDisks, type VmDisks } from './vm-disks';
import { testPowers, type SimulatedHypervisor } from './test-powers';

// The simulated driver: the Hypervisor interface over one host's state folder. While a VM runs,
// its process owns the disks and the driver sends it requests; while it is off, the driver
// opens the disks itself. All state lives in files, so a new driver object (an agent restart)
// picks up exactly where the last one stopped, open frozen views included.

const log = componentLogger('hypervisor.simulated');

export type { SimulatedHypervisor } from './test-powers';

function notFound(id: string): HypervisorError {
  return new HypervisorError('VM_NOT_FOUND', `no VM with id ${id} on this host`, { details: { vmId: id } });
}

/** Creates the simulated driver for the host whose state folder is `stateDir`. */
export function createSimulatedHypervisor(stateDir: string): SimulatedHypervisor {
  readHostConfig(stateDir);
  const locks = new Map<string, Promise<unknown>>();
  const liveViews = new Set<string>();

  // One operation per VM at a time (within this driver object).
  function locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = locks.get(id) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(fn);
    locks.set(id, next);
    return next;
  }

  function observe(id: string): Observed {
    const o = observeVm(stateDir, id);
    if (o === null) throw notFound(id);
    return o;
  }

  // Runs `op` in the live VM process, or (VM off, or it died meanwhile) on the disks directly.
  async function onDisks<T>(id: string, op: SimOp, direct: (d: VmDisks) => Promise<T>, timeoutMs: number): Promise<T> {
    const o = observe(id);
    if (o.alive && o.runtime !== null) {
      const { pid, bootId } = o.runtime;
      try {
        return (await sendRequest(stateDir, id, bootId, op, { timeoutMs, alive: () => isVmProcessAlive(pid, id) })) as T;
      } catch (err) {
        if (isVmProcessAlive(pid, id)) throw err;
        log.warn({ vmId: id, op: op.kind }, 'VM process died during a request; acting on its disks directly');
      }
    }
    const disks = await openVmDisks(stateDir, observe(id).record);
    try {
      return await direct(disks);
    } finally {
      await disks.close();
    }
  }

  async function info(id: string): Promise<VmInfo> {
    return toVmInfo(stateDir, observe(id));
  }

  async function releaseView(id: string, viewId: string, commit: boolean, timeoutMs: number): Promise<DiskReference[]> {
    return locked(id, async () => {
      try {
        return (await onDisks(id, { kind: 'release', viewId, commit }, (d) => d.release(viewId, commit), timeoutMs)) as DiskReference[];
      } finally {
        // Failed or not, nobody holds the view any more: if it is still open it is a leftover, which
        // releaseLeftoverViews or the next freeze merges. Keeping it "live" would refuse every later
        // freeze of this VM until the driver is recreated.
        liveViews.delete(viewId);
      }
    });
  }

  const driver: SimulatedHypervisor = {
    id: 'simulated',
    stateDir,

    async getHost() {
      return hostInfo(stateDir, readHostConfig(stateDir));
    },

    async listVms() {
      const out: VmInfo[] = [];
      for (const id of await listVmIds(stateDir)) {
        const o = observeVm(stateDir, id);
        if (o !== null) out.push(await toVmInfo(stateDir, o));
      }
      return out;
    },

    async getVm(id) {
      const o = observeVm(stateDir, id);
      return o === null ? null : toVmInfo(stateDir, o);
    },

    async findVmsByName(name) {
      return (await driver.listVms()).filter((v) => v.name === name);
    },

    startVm(id, options) {
      return locked(id, async () => {
        const pid = await startVmProcess(stateDir, observe(id), options.timeoutMs);
        log.info({ vmId: id, pid }, 'VM started');
        return info(id);
      });
    },

    stopVm(id, mode: StopMode, options) {
      return locked(id, async () => {
        await stopVmProcess(stateDir, observe(id), mode, options.timeoutMs);
        return info(id);
      });
    },

    async freeze(id, options) {
      const viewId = randomUUID();
      const sizes = await locked(id, async () => {
        const o = observe(id);
        const current: number[] = [];
        for (const d of o.record.disks) current.push((await describeDisk(d.path, d.format === 'VHDX' ? 'VHDX' : 'Raw')).sizeBytes);
        const old = readJson(vmPaths(stateDir, id).freeze, SimFreeze);
        if (old !== null) {
          if (liveViews.has(old.viewId)) throw new HypervisorError('VM_WRONG_STATE', `VM ${id} already has an open frozen view`, { details: { vmId: id, viewId: old.viewId } });
          // A view left open by an earlier driver (agent restart) or a timed-out call: merge it first.
          log.warn({ vmId: id, viewId: old.viewId }, 'merging a stale frozen view');
          await onDisks(id, { kind: 'release', viewId: old.viewId, commit: false }, (d) => d.release(old.viewId, false), options.timeoutMs);
        }
        await onDisks(id, { kind: 'freeze', viewId }, (d) => d.freeze(viewId), options.timeoutMs);
        liveViews.add(viewId);
        return current;
      });
      const o = observe(id);
      let released = false;
      return {
        vmId: id,
        viewId,
        takenAt: new Date(),
        disks: o.record.disks.map((d, i) => ({ basePath: d.path, readPath: d.path, sizeBytes: sizes[i]! })),
        // Its guests are processes that never quiesce: what a view holds is what a power cut leaves.
        consistency: 'Crash',
        async release({ commit }) {
          if (released) throw new HypervisorError('VM_WRONG_STATE', `frozen view ${viewId} of VM ${id} was already released`, { details: { vmId: id, viewId } });
          const refs = await releaseView(id, viewId, commit, options.timeoutMs);
          released = true;
          return refs;
        },
      } satisfies FrozenView;
    },

    releaseLeftoverViews(id, options) {
      return locked(id, async () => {
        const old = readJson(vmPaths(stateDir, observe(id).record.id).freeze, SimFreeze);
        // A view a caller of this driver still holds is in use, not left behind.
        if (old === null || liveViews.has(old.viewId)) return { released: [] };
        log.warn({ vmId: id, viewId: old.viewId }, 'releasing a leftover frozen view');
        await onDisks(id, { kind: 'release', viewId: old.viewId, commit: false }, (d) => d.release(old.viewId, false), options.timeoutMs);
        return { released: [old.viewId] };
      });
    },

    async changedRanges(id, view, since) {
      const o = observe(id);
      const out = [];
      for (const [i, d] of o.record.disks.entries()) {
        const ref = since.find((r) => r.basePath === d.path);
        if (ref === undefined) throw new HypervisorError('RCT_UNAVAILABLE', `no reference given for disk ${d.path}`, { details: { vmId: id, basePath: d.path } });
        const ranges = await changesBetween(vmPaths(stateDir, id).changeLog(i), ref.rctId, view.viewId);
        const size = view.disks.find((v) => v.basePath === d.path)?.sizeBytes ?? 0;
        out.push({ basePath: d.path, virtualSizeBytes: size, ranges });
      }
      return out;
    },

    async pruneReferences(id, keep) {
      const o = observe(id);
      const keepIds = new Set(keep.map((k) => k.rctId.replace(/^simrct:/, '')));
      for (const i of o.record.disks.keys()) {
        const logPath = vmPaths(stateDir, id).changeLog(i);
        const committed: string[] = [];
        const dead = new Set<string>();
        for await (const e of readChanges(logPath)) {
          if (e.t === 'C') committed.push(e.v);
          if (e.t === 'X') dead.add(e.v);
        }
        for (const v of committed) if (!keepIds.has(v) && !dead.has(v)) appendChange(logPath, { t: 'X', v });
      }
    },

    async exportConfig(id, destDir) {
      return writeExport(observe(id).record, destDir);
    },

    async checkReadiness(configDir, options) {
      const exported = await readExport(configDir);
      const host = await hostInfo(stateDir, readHostConfig(stateDir));
      const issues = [...compareVm(exported.vm, readHostConfig(stateDir)), ...memoryIssue(options.memoryBytes, host)];
      return { canStart: issues.length === 0, issues, freeMemoryBytes: host.freeMemoryBytes };
    },

    async registerReplica(configDir, diskPaths) {
      const exported = await readExport(configDir);
      const id = exported.vm.id;
      return locked(id, async () => {
        const issues = [...compareVm(exported.vm, readHostConfig(stateDir)), ...(await diskIssues(exported.vm, diskPaths))];
        if (issues.length > 0) {
          throw new HypervisorError('VM_INCOMPATIBLE', `VM ${id} cannot be registered here: ${issues.map((i) => i.message).join(' ')}`, { details: { vmId: id, issues } });
        }
        const existing = observeVm(stateDir, id);
        if (existing !== null && existing.state !== 'Off' && existing.state !== 'Saved') {
          throw new HypervisorError('VM_WRONG_STATE', `cannot replace VM ${id}: it is ${existing.state}`, { details: { vmId: id, state: existing.state } });
        }
        await registerRecord(stateDir, exported.vm, diskPaths);
        return info(id);
      });
    },

    setStaticMac(id, options) {
      return locked(id, async () => {
        const o = observe(id);
        if (options.mac !== undefined && !/^[0-9A-Fa-f]{12}$/.test(options.mac)) throw new UsageError(`not a MAC address (12 hex digits): ${JSON.stringify(options.mac)}`);
        const targets = o.record.networkAdapters.filter((n) => options.adapterName === undefined || n.name === options.adapterName);
        if (targets.length === 0) throw new HypervisorError('HYPERVISOR_ERROR', `VM ${id} has no network adapter${options.adapterName === undefined ? '' : ` named ${JSON.stringify(options.adapterName)}`}`, { details: { vmId: id } });
        const adapters = o.record.networkAdapters.map((n) => (targets.includes(n) ? { ...n, dynamicMac: false, macAddress: options.mac?.toUpperCase() ?? n.macAddress } : n));
        await writeVmRecord(stateDir, { ...o.record, networkAdapters: adapters });
        return info(id);
      });
    },

    ...testPowers({ stateDir, locked, onDisks, observe }),
  };
  return driver;
}
