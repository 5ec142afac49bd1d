// The hypervisor boundary: everything above src/hypervisor/ talks to VMs only through this file.
// Nothing here knows PowerShell exists. Drivers: hyperv/ (PowerShell) and simulated/ (tests, demo).
//
// Contract, for every method:
// - VMs are identified by their GUID (`VmId`, lower-case canonical form). Names are data: never
//   unique, never a pattern. `findVmsByName` matches exactly and may return several.
// - Failures are `HypervisorError`s (src/errors.ts) with codes VM_NOT_FOUND, VM_AMBIGUOUS,
//   VM_WRONG_STATE, VM_TIMEOUT, VM_INCOMPATIBLE, RCT_UNAVAILABLE, HYPERVISOR_ERROR (platform
//   message kept in `details.platformMessage`), PS_* for the PowerShell channel.
// - Every method that waits takes a timeout (ms) and fails with VM_TIMEOUT past it.

/** VM states as Hyper-V names them (`VMState.ToString()`); never numbers. */
export type VmState =
  | 'Off'
  | 'Starting'
  | 'Running'
  | 'Stopping'
  | 'Saving'
  | 'Saved'
  | 'Paused'
  | 'Pausing'
  | 'Resuming'
  | 'Reset'
  | 'Other';

/** Guest heartbeat (`VMHeartbeatStatus.ToString()`); `Ok*` means the guest OS is up. */
export type HeartbeatStatus =
  | 'Unknown'
  | 'Disabled'
  | 'NoContact'
  | 'Error'
  | 'LostCommunication'
  | 'OkApplicationsUnknown'
  | 'OkApplicationsHealthy'
  | 'OkApplicationsCritical'
  | 'Paused';

export type VmId = string;

export interface VmDisk {
  /** Path of the VHDX the VM uses now (an .avhdx while a checkpoint exists). */
  path: string;
  /** Path of the base VHDX at the end of the differencing chain (what vmmirror replicates). */
  basePath: string;
  format: 'VHDX' | 'VHD' | 'Other';
  type: 'Fixed' | 'Dynamic' | 'Differencing' | 'Unknown';
  controllerType: 'IDE' | 'SCSI' | 'PMEM' | 'Unknown';
  controllerNumber: number;
  controllerLocation: number;
  /** Virtual size in bytes. */
  sizeBytes: number;
  /** Bytes the file occupies now. */
  fileSizeBytes: number;
  /**
   * Set when the drive cannot be replicated (Hyper-V: a pass-through disk, a missing VHDX, one
   * in use elsewhere): why, in words. Such a drive's sizes are 0 and its paths may be empty.
   */
  problem?: string;
}

export interface VmNetworkAdapter {
  name: string;
  /** 12 upper-case hex digits, no separators (`00155D0A0B0C`). */
  macAddress: string;
  dynamicMac: boolean;
  switchName: string | null;
}

export interface VmInfo {
  id: VmId;
  name: string;
  state: VmState;
  heartbeat: HeartbeatStatus | null;
  memoryBytes: number;
  processorCount: number;
  /** Configuration version, e.g. "9.0"; RCT needs >= 6.2. */
  configurationVersion: string;
  generation: number;
  disks: VmDisk[];
  networkAdapters: VmNetworkAdapter[];
}

export type StopMode = 'Shutdown' | 'TurnOff' | 'Save';

/** The RCT identity of one disk at a reference point; opaque outside the driver. */
export interface DiskReference {
  /** Base VHDX path this reference belongs to. */
  basePath: string;
  /** Hyper-V's RCT id (e.g. `rctX:...`), or the simulated driver's epoch id. */
  rctId: string;
}

/**
 * A consistent, read-only view of a VM's disks. While it exists the files in `disks[].readPath`
 * do not change (Hyper-V: the parent VHDX of a recovery checkpoint; Off VM: the disk itself).
 * The caller owns it and must call `release()` exactly once (in a `finally`).
 */
export interface FrozenView {
  vmId: VmId;
  /** Opaque handle (Hyper-V: the recovery snapshot's InstanceID). */
  viewId: string;
  takenAt: Date;
  disks: Array<{ basePath: string; readPath: string; sizeBytes: number }>;
  /**
   * What the read paths hold: `Application` when the guest quiesced (VSS / fs freeze) for the
   * view, `Crash` otherwise (the state a power cut would leave: the guest could not quiesce, or
   * it was not running). Hyper-V asks for application consistency first and falls back.
   */
  consistency: 'Application' | 'Crash';
  /**
   * Ends the view. `commit: true` (the peer holds this generation) turns it into a reference
   * point and returns the RCT ids to use as `since` in the next cycle. `commit: false` only
   * merges; the previous references stay the baseline, and no ids are returned.
   */
  release(options: { commit: boolean }): Promise<DiskReference[]>;
}

/** Changed byte ranges of a virtual disk, in virtual-disk offsets (not file offsets). */
export interface ChangedRanges {
  basePath: string;
  virtualSizeBytes: number;
  ranges: Array<{ offset: number; length: number }>;
}

export interface CompatibilityIssue {
  /** Stable kind: MissingSwitch, ConfigurationVersion, Memory, Processor, Other. */
  kind: 'MissingSwitch' | 'ConfigurationVersion' | 'Memory' | 'Processor' | 'Other';
  message: string;
  /** Hyper-V's MessageId when it came from Compare-VM. */
  messageId?: number;
}

export interface Readiness {
  canStart: boolean;
  issues: CompatibilityIssue[];
  freeMemoryBytes: number;
}

export interface ExportedConfig {
  vmId: VmId;
  /** Folder holding the exported configuration (Virtual Machines/*.vmcx) to ship to the peer. */
  configDir: string;
  files: string[];
}

export interface HostInfo {
  name: string;
  freeMemoryBytes: number;
  totalMemoryBytes: number;
  logicalProcessorCount: number;
  switchNames: string[];
  /** Highest configuration version this host supports, e.g. "12.0". */
  maxConfigurationVersion: string;
}

export type HypervisorId = 'hyperv' | 'simulated';

export interface Hypervisor {
  readonly id: HypervisorId;

  /** Facts about this host (memory headroom, switches, supported config versions). */
  getHost(): Promise<HostInfo>;
  /** Every VM on this host. */
  listVms(): Promise<VmInfo[]>;
  /** One VM by GUID; null when none has it. */
  getVm(id: VmId): Promise<VmInfo | null>;
  /** VMs whose name equals `name` exactly (no wildcards); may be empty or several. */
  findVmsByName(name: string): Promise<VmInfo[]>;

  /** Starts an Off/Saved VM and waits until it runs and, if `waitHeartbeat`, the guest answers. Fails VM_WRONG_STATE if already running. */
  startVm(id: VmId, options: { timeoutMs: number; waitHeartbeat: boolean }): Promise<VmInfo>;
  /** Stops a running VM by the given mode and waits for Off (or Saved). Fails VM_WRONG_STATE if it is Off. */
  stopVm(id: VmId, mode: StopMode, options: { timeoutMs: number }): Promise<VmInfo>;

  /** Takes a frozen read view of all of the VM's disks (recovery checkpoint, or none if Off). */
  freeze(id: VmId, options: { timeoutMs: number }): Promise<FrozenView>;
  /**
   * Releases every frozen view of this VM that vmmirror left behind (a crash between freeze and
   * release, a release that failed, a freeze that timed out after the platform made its
   * checkpoint), without committing a reference. Called at agent start and before a freeze that
   * finds a leftover; a no-op when there is none. Returns the ids of the views released.
   */
  releaseLeftoverViews(id: VmId, options: { timeoutMs: number }): Promise<{ released: string[] }>;
  /**
   * Ranges written since each reference (RCT). Throws RCT_UNAVAILABLE when tracking cannot answer
   * (dead id, config version < 6.2, any platform failure): the caller then falls back to a scan,
   * never to "nothing changed".
   */
  changedRanges(id: VmId, view: FrozenView, since: DiskReference[], options: { timeoutMs: number }): Promise<ChangedRanges[]>;
  /** Removes reference points other than `keep` that vmmirror made (they accumulate otherwise). */
  pruneReferences(id: VmId, keep: DiskReference[]): Promise<void>;

  /** Exports the VM's configuration (no disks) into `destDir`, for the peer to register. */
  exportConfig(id: VmId, destDir: string, options: { timeoutMs: number }): Promise<ExportedConfig>;
  /** Whether the exported VM could start here: Compare-VM incompatibilities, memory headroom. */
  checkReadiness(configDir: string, options: { memoryBytes: number; timeoutMs: number }): Promise<Readiness>;
  /**
   * Registers (in place, same VM id) the replica VM from an exported configuration, pointing its
   * disks at `diskPaths` (same order as exported), and leaves it Off. Fails VM_INCOMPATIBLE with
   * the issues in `details.issues` when Compare-VM reports any.
   */
  registerReplica(configDir: string, diskPaths: string[], options: { timeoutMs: number }): Promise<VmInfo>;
  /** Pins every network adapter's MAC (its current one, or `mac` when given) so the guest's address follows it. */
  setStaticMac(id: VmId, options: { adapterName?: string; mac?: string }): Promise<VmInfo>;
}
