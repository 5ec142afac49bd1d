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
import { toIssue, toVmInfo } from './convert';
import { PsRunner, type PsRunnerOptions } from './ps-runner';
import * as S from './schema';
import { checkId, GUID, HypervViews } from './views';

export interface HypervDriverOptions extends Partial<PsRunnerOptions> {
  /** An existing runner (tests share one session with the mock's helpers); else one is made. */
  runner?: PsRunner;
  /** Timeout for calls that take none (list, get, host facts, prune, MAC). */
  defaultTimeoutMs?: number;
}

const CHANNEL_MARGIN_MS = 15_000;

/** toVmInfo, plus why a drive cannot be replicated (Get-MirrorVm reports it per disk, never failing the VM). */
function vmInfo(vm: S.PsVm): VmInfo {
  const info = toVmInfo(vm);
  vm.Disks.forEach((d, i) => {
    if (d.Problem) info.disks[i]!.problem = d.Problem;
  });
  return info;
}

/** Implements the Hypervisor interface on Hyper-V through ps/ scripts. */
export class HypervDriver implements Hypervisor {
  readonly id = 'hyperv' as const;
  readonly runner: PsRunner;
  private readonly defaultTimeoutMs: number;
  /** Frozen views, RCT references and their bookkeeping (views.ts). */
  private readonly views: HypervViews;

  constructor(options: HypervDriverOptions) {
    // Windows PowerShell 5.1 is on every Hyper-V host; elsewhere the executable must be given.
    const executable = options.executable ?? (process.platform === 'win32' ? 'powershell.exe' : undefined);
    if (options.runner) this.runner = options.runner;
    else if (executable) this.runner = new PsRunner({ ...options, executable });
    else throw new HypervisorError('HYPERVISOR_ERROR', 'the Hyper-V driver needs a PowerShell executable (powershell.exe or pwsh)');
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? 60_000;
    this.views = new HypervViews(
      (script, input, schema, timeoutMs) => this.call(script, input, schema, timeoutMs),
      async (id) => (await this.getVm(id))?.disks.map((d) => d.basePath) ?? [],
    );
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

  freeze(id: VmId, options: { timeoutMs: number }): Promise<FrozenView> {
    return this.views.freeze(id, options);
  }

  releaseLeftoverViews(id: VmId, options: { timeoutMs: number }): Promise<{ released: string[] }> {
    return this.views.releaseLeftoverViews(id, options);
  }

  /** Releases a view by its id (also after a restart, when the caller persisted `viewId`): see HypervViews.releaseView. */
  releaseView(id: VmId, viewId: string, o: { commit: boolean; timeoutMs: number; basePaths?: string[] }): Promise<DiskReference[]> {
    return this.views.releaseView(id, viewId, o);
  }

  changedRanges(id: VmId, view: FrozenView, since: DiskReference[], options: { timeoutMs: number }): Promise<ChangedRanges[]> {
    return this.views.changedRanges(id, view, since, options);
  }

  pruneReferences(id: VmId, keep: DiskReference[]): Promise<void> {
    return this.views.pruneReferences(id, keep);
  }

  async exportConfig(id: VmId, destDir: string, options: { timeoutMs: number }): Promise<ExportedConfig> {
    checkId(id);
    // ExportSystemDefinition while a recovery snapshot exists may lock the VHDX chain until VMMS
    // restarts (Bareos plugin authors): never ask. The script checks the host as well.
    const open = this.views.openViewsOf(id);
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
