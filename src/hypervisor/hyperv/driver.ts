// The Hyper-V driver: each Hypervisor method is one ps/ script run through the PsRunner.
// Scripts enforce the VM-level waits (VM_TIMEOUT); the runner's timeout is the channel's backstop,
// a little longer, so a hung PowerShell is killed and restarted (PS_TIMEOUT).
import { HypervisorError } from '../../errors';
import type {
  ChangedRanges,
  DiskReference,
  ExportedConfig,
  FrozenView,
  HostInfo,
  Hypervisor,
  Readiness,
  StopMode,
  VmId,
  VmInfo,
} from '../types';
import { toIssue, toVmInfo, unionRanges } from './convert';
import { PsRunner, type PsRunnerOptions } from './ps-runner';
import * as S from './schema';

export interface HypervDriverOptions extends Partial<PsRunnerOptions> {
  /** An existing runner (tests share one session with the mock's helpers); else one is made. */
  runner?: PsRunner;
  /** Timeout for calls that take none (list, get, host facts, prune, MAC). */
  defaultTimeoutMs?: number;
}

const CHANNEL_MARGIN_MS = 15_000;
const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** toVmInfo, plus why a drive cannot be replicated (Get-MirrorVm reports it per disk, never failing the VM). */
function vmInfo(vm: S.PsVm): VmInfo {
  const info = toVmInfo(vm);
  vm.Disks.forEach((d, i) => {
    if (d.Problem) info.disks[i]!.problem = d.Problem;
  });
  return info;
}

function checkId(id: VmId): void {
  // Not a GUID cannot name a VM; say so the way an unknown GUID does, without asking PowerShell.
  if (!GUID.test(id)) throw new HypervisorError('VM_NOT_FOUND', `not a VM id (GUID expected): ${JSON.stringify(id)}`);
}

/** Implements the Hypervisor interface on Hyper-V through ps/ scripts. */
export class HypervDriver implements Hypervisor {
  readonly id = 'hyperv' as const;
  readonly runner: PsRunner;
  private readonly defaultTimeoutMs: number;
  /** RCT ids this driver handed out, per VM: only their reference points are ever pruned. */
  private readonly handedOut = new Map<VmId, Set<string>>();
  /** Views this driver has open, per VM: not leftovers, and no export while one is open. */
  private readonly openViews = new Map<VmId, Set<string>>();
  /** CreateSnapshot jobs of failed freezes still running at the cleanup's deadline: their snapshot is released later. */
  private readonly pendingJobs = new Map<VmId, Set<string>>();

  constructor(options: HypervDriverOptions) {
    // Windows PowerShell 5.1 is on every Hyper-V host; elsewhere the executable must be given.
    const executable = options.executable ?? (process.platform === 'win32' ? 'powershell.exe' : undefined);
    if (options.runner) this.runner = options.runner;
    else if (executable) this.runner = new PsRunner({ ...options, executable });
    else throw new HypervisorError('HYPERVISOR_ERROR', 'the Hyper-V driver needs a PowerShell executable (powershell.exe or pwsh)');
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? 60_000;
  }

  private call<T>(script: string, input: object, schema: import('zod').ZodType<T>, timeoutMs?: number): Promise<T> {
    const ms = timeoutMs ?? this.defaultTimeoutMs;
    return this.runner.invoke(script, { ...input, TimeoutMs: ms }, schema, { timeoutMs: ms + CHANNEL_MARGIN_MS });
  }

  async getHost(): Promise<HostInfo> {
    const h = await this.call('Get-MirrorHost', {}, S.PsHost);
    return {
      name: h.Name,
      freeMemoryBytes: h.FreeMemoryBytes,
      totalMemoryBytes: h.TotalMemoryBytes,
      logicalProcessorCount: h.LogicalProcessorCount,
      switchNames: h.SwitchNames,
      maxConfigurationVersion: h.MaxConfigurationVersion,
    };
  }

  async listVms(): Promise<VmInfo[]> {
    return (await this.call('Get-MirrorVm', {}, S.PsVmList)).Vms.map(vmInfo);
  }

  async getVm(id: VmId): Promise<VmInfo | null> {
    if (!GUID.test(id)) return null;
    const vms = (await this.call('Get-MirrorVm', { Id: id }, S.PsVmList)).Vms;
    return vms.length === 0 ? null : vmInfo(vms[0]!);
  }

  async findVmsByName(name: string): Promise<VmInfo[]> {
    return (await this.call('Get-MirrorVm', { Name: name }, S.PsVmList)).Vms.map(vmInfo);
  }

  /** The one VM with exactly this name; VM_NOT_FOUND or VM_AMBIGUOUS otherwise (for operator commands). */
  async resolveVmByName(name: string): Promise<VmInfo> {
    const vms = (await this.call('Get-MirrorVm', { Name: name, Single: true }, S.PsVmList)).Vms;
    return vmInfo(vms[0]!);
  }

  async startVm(id: VmId, options: { timeoutMs: number; waitHeartbeat: boolean }): Promise<VmInfo> {
    checkId(id);
    return vmInfo(await this.call('Start-MirrorVm', { VmId: id, WaitHeartbeat: options.waitHeartbeat }, S.PsVm, options.timeoutMs));
  }

  async stopVm(id: VmId, mode: StopMode, options: { timeoutMs: number }): Promise<VmInfo> {
    checkId(id);
    return vmInfo(await this.call('Stop-MirrorVm', { VmId: id, Mode: mode }, S.PsVm, options.timeoutMs));
  }

  async freeze(id: VmId, options: { timeoutMs: number }): Promise<FrozenView> {
    checkId(id);
    let v: S.PsFrozenView;
    try {
      v = await this.call('New-MirrorFrozenView', { VmId: id }, S.PsFrozenView, options.timeoutMs);
    } catch (err) {
      throw await this.cleanUpFailedFreeze(id, err, options.timeoutMs);
    }
    const open = this.openViews.get(id) ?? new Set<string>();
    open.add(v.ViewId);
    this.openViews.set(id, open);
    let released = false;
    const release = async (o: { commit: boolean }): Promise<DiskReference[]> => {
      if (released) throw new HypervisorError('HYPERVISOR_ERROR', `frozen view ${v.ViewId} of VM ${id} was already released`);
      released = true;
      return this.releaseView(id, v.ViewId, { ...o, timeoutMs: options.timeoutMs, basePaths: v.Disks.map((d) => d.BasePath) });
    };
    return {
      vmId: id,
      viewId: v.ViewId,
      takenAt: new Date(v.TakenAt),
      disks: v.Disks.map((d) => ({ basePath: d.BasePath, readPath: d.ReadPath, sizeBytes: d.SizeBytes })),
      consistency: v.Consistency,
      release,
    };
  }

  /**
   * A freeze that failed after Hyper-V accepted CreateSnapshot (a timeout, a failed job, a check
   * after it) may leave a recovery snapshot that no caller knows of: release it now (waiting for a
   * job still running, within the same timeout), and return the original error with what was done.
   */
  private async cleanUpFailedFreeze(id: VmId, err: unknown, timeoutMs: number): Promise<unknown> {
    if (!(err instanceof HypervisorError)) return err;
    const made = S.PsFreezeFailureDetails.safeParse(err.details.scriptDetails);
    const jobIds = made.success && made.data.JobId ? [made.data.JobId] : [];
    const viewIds = made.success && made.data.ViewId ? [made.data.ViewId] : [];
    // A session killed mid-call (PS_TIMEOUT) cannot say what it made: look for our named views.
    if (jobIds.length === 0 && viewIds.length === 0 && err.code !== 'PS_TIMEOUT' && err.code !== 'PS_SESSION_DIED') return err;
    try {
      const r = await this.removeLeftovers(id, { JobIds: jobIds, ViewIds: viewIds }, timeoutMs);
      err.details.leftoverViewsReleased = r.Released;
      err.details.leftoverJobsPending = r.PendingJobIds;
    } catch (cleanupErr) {
      err.details.leftoverCleanupError = String(cleanupErr);
    }
    return err;
  }

  private async removeLeftovers(id: VmId, extra: { JobIds: string[]; ViewIds: string[] }, timeoutMs: number): Promise<S.PsLeftovers> {
    const keep = [...(this.openViews.get(id) ?? [])];
    const jobIds = [...new Set([...extra.JobIds, ...(this.pendingJobs.get(id) ?? [])])];
    const r = await this.call('Remove-MirrorLeftoverView', { VmId: id, KeepViewIds: keep, ViewIds: extra.ViewIds, JobIds: jobIds }, S.PsLeftovers, timeoutMs);
    // The script answered for every job it was given: only those still running stay pending.
    if (r.PendingJobIds.length > 0) this.pendingJobs.set(id, new Set(r.PendingJobIds));
    else this.pendingJobs.delete(id);
    return r;
  }

  /**
   * Releases (merges, no reference point) vmmirror's recovery snapshots of the VM that no open view
   * of this driver holds: those named `vmmirror-view ...` by New-MirrorFrozenView. Another tool's
   * checkpoints are never touched.
   */
  async releaseLeftoverViews(id: VmId, options: { timeoutMs: number }): Promise<{ released: string[] }> {
    checkId(id);
    const r = await this.removeLeftovers(id, { JobIds: [], ViewIds: [] }, options.timeoutMs);
    return { released: r.Released };
  }

  /**
   * Releases a view by its id: what `FrozenView.release` does, also usable after a restart when the
   * caller persisted `viewId` before reading (a crash mid-cycle leaves the checkpoint in place and
   * blocks the next freeze). Only that checkpoint is touched, never another tool's.
   */
  async releaseView(
    id: VmId,
    viewId: string,
    o: { commit: boolean; timeoutMs: number; basePaths?: string[] },
  ): Promise<DiskReference[]> {
    checkId(id);
    const r = await this.call('Remove-MirrorFrozenView', { VmId: id, ViewId: viewId, Commit: o.commit }, S.PsReferences, o.timeoutMs);
    this.openViews.get(id)?.delete(viewId);
    if (!o.commit) return [];
    const refs = r.References.map((x) => ({ basePath: x.BasePath, rctId: x.RctId }));
    // Ours whether or not their disk could be told: remembered first, so pruning removes them.
    const ids = this.handedOut.get(id) ?? new Set<string>();
    for (const x of refs) ids.add(x.rctId);
    for (const x of r.UnmatchedRctIds) ids.add(x);
    this.handedOut.set(id, ids);
    const basePaths = o.basePaths ?? ((await this.getVm(id))?.disks.map((d) => d.basePath) ?? []);
    // Every disk must come back with its id; one missing would silently lose that disk's history.
    const missing = basePaths.filter((p) => !refs.some((x) => x.basePath === p));
    if (missing.length > 0) {
      throw new HypervisorError('RCT_UNAVAILABLE', `no RCT id returned for ${missing.join(', ')}`, {
        details: { references: refs, unmatchedRctIds: r.UnmatchedRctIds },
      });
    }
    return basePaths.map((p) => refs.find((x) => x.basePath === p)!);
  }

  async changedRanges(id: VmId, view: FrozenView, since: DiskReference[], options: { timeoutMs: number }): Promise<ChangedRanges[]> {
    checkId(id);
    const disks = view.disks.map((d) => {
      const ref = since.find((s) => s.basePath === d.basePath);
      if (ref === undefined) throw new HypervisorError('RCT_UNAVAILABLE', `no reference for disk ${d.basePath}`, { details: { basePath: d.basePath } });
      return { BasePath: d.basePath, ReadPath: d.readPath, SizeBytes: d.sizeBytes, RctId: ref.rctId };
    });
    const r = await this.call('Get-MirrorDiskChange', { VmId: id, Disks: disks }, S.PsDiskChanges, options.timeoutMs);
    return view.disks.map((d) => {
      const got = r.Disks.find((x) => x.BasePath === d.basePath);
      if (got === undefined) throw new HypervisorError('RCT_UNAVAILABLE', `no answer for disk ${d.basePath}`);
      const ranges = got.Ranges.map((x) => ({ offset: x.Offset, length: x.Length }));
      const outside = ranges.find((x) => x.offset + x.length > d.sizeBytes);
      if (outside !== undefined) {
        throw new HypervisorError('RCT_UNAVAILABLE', `RCT reported a range beyond the disk: ${JSON.stringify(outside)}`, { details: { basePath: d.basePath } });
      }
      return { basePath: d.basePath, virtualSizeBytes: d.sizeBytes, ranges: unionRanges(ranges) };
    });
  }

  /**
   * Destroys the reference points this driver made for the VM, except those holding a kept id.
   * Reference points of other tools (backup products) are never touched; ours made before a
   * restart of the process are not known and stay (see docs/hyperv-driver.md).
   */
  async pruneReferences(id: VmId, keep: DiskReference[]): Promise<void> {
    checkId(id);
    const keepIds = keep.map((k) => k.rctId);
    const mine = [...(this.handedOut.get(id) ?? [])].filter((x) => !keepIds.includes(x));
    if (mine.length === 0) return;
    await this.call('Remove-MirrorReferencePoint', { VmId: id, KeepRctIds: keepIds, PruneRctIds: mine }, S.PsPruned);
    this.handedOut.set(id, new Set(keepIds.filter((x) => this.handedOut.get(id)?.has(x))));
  }

  async exportConfig(id: VmId, destDir: string, options: { timeoutMs: number }): Promise<ExportedConfig> {
    checkId(id);
    // ExportSystemDefinition while a recovery snapshot exists may lock the VHDX chain until VMMS
    // restarts (Bareos plugin authors): never ask. The script checks the host as well.
    const open = [...(this.openViews.get(id) ?? [])];
    if (open.length > 0) {
      throw new HypervisorError('VM_WRONG_STATE', `VM ${id} has an open frozen view; export its configuration after releasing it`, {
        details: { vmId: id, openViews: open },
      });
    }
    const r = await this.call('Export-MirrorVmConfig', { VmId: id, DestDir: destDir }, S.PsExport, options.timeoutMs);
    return { vmId: id, configDir: r.ConfigDir, files: r.Files };
  }

  async checkReadiness(configDir: string, options: { memoryBytes: number; timeoutMs: number }): Promise<Readiness> {
    const r = await this.call('Test-MirrorReplicaReadiness', { ConfigDir: configDir, MemoryBytes: options.memoryBytes }, S.PsReadiness, options.timeoutMs);
    return { canStart: r.CanStart, issues: r.Issues.map(toIssue), freeMemoryBytes: r.FreeMemoryBytes };
  }

  async registerReplica(configDir: string, diskPaths: string[], options: { timeoutMs: number }): Promise<VmInfo> {
    try {
      return vmInfo(await this.call('Register-MirrorReplicaVm', { ConfigDir: configDir, DiskPaths: diskPaths }, S.PsVm, options.timeoutMs));
    } catch (err) {
      if (err instanceof HypervisorError && err.code === 'VM_INCOMPATIBLE') {
        const parsed = S.PsIncompatibleDetails.safeParse(err.details.scriptDetails);
        const issues = parsed.success ? parsed.data.Issues.map(toIssue) : [];
        throw new HypervisorError('VM_INCOMPATIBLE', err.message, { cause: err, details: { ...err.details, issues } });
      }
      throw err;
    }
  }

  async setStaticMac(id: VmId, options: { adapterName?: string; mac?: string }): Promise<VmInfo> {
    checkId(id);
    const input: Record<string, string> = { VmId: id };
    if (options.adapterName !== undefined) input.AdapterName = options.adapterName;
    if (options.mac !== undefined) input.Mac = options.mac;
    return vmInfo(await this.call('Set-MirrorStaticMac', input, S.PsVm));
  }

  /** Ends the PowerShell session. */
  async close(): Promise<void> {
    await this.runner.close();
  }
}

/** A Hyper-V driver with its own PowerShell session. */
export function createHypervHypervisor(options: HypervDriverOptions): HypervDriver {
  return new HypervDriver(options);
}
