import type { AgentSettings, HostEntry, HypervisorSettings, Witness } from './cluster';
import type { Compression, HealthPolicy, Interval } from './common';

// The shapes the agent uses after loading: defaults applied, paths absolute, cross-checked.

export interface ResolvedDisk {
  /** Stable name of this disk inside the module (the file name), used on the wire and in manifests. */
  name: string;
  /** The copy on the module's DefaultPrimary (`Path`). */
  path: string;
  /** Largest size this disk's file may reach (`MaxBytes`); absent: bounded by this host's VM disk. */
  maxBytes?: number;
  /** The copy on the other host (`ReplicaPath`, absolute; default `<DataDirectory>/replicas/<Module>/<file name>`). */
  replicaPath: string;
  /**
   * This host's own copy: `path` when this host is the DefaultPrimary, else `replicaPath`. Both
   * hosts hold a copy; whichever runs the VM reads its localPath and the other writes its own, so
   * nothing that moves data may assume the default primary is the sender.
   */
  localPath: string;
}

export interface ResolvedModule {
  name: string;
  file: string;
  vmName: string;
  vmId?: string;
  disks: 'auto' | ResolvedDisk[];
  defaultPrimary: string;
  replication: { interval: Interval; compression: Compression; blockSize: number };
  policies: { failback: 'auto' | 'manual'; stopMode: 'Shutdown' | 'TurnOff' | 'Save'; stopTimeoutSeconds: number; startTimeoutSeconds: number; coldStartAloneSeconds?: number | null; health?: HealthPolicy; startPriority?: 'High' | 'Medium' | 'Low' | 'NoAutoStart' };
  hooks: { preStart?: string; postStart?: string; preStop?: string; postStop?: string; timeoutSeconds?: number };
  weight?: number;
  pin?: string;
  antiAffinityGroup?: string;
}

export interface LoadedConfig {
  /** The config directory (absolute). */
  dir: string;
  clusterName: string;
  self: HostEntry;
  peer: HostEntry;
  hosts: HostEntry[];
  dataDir: string;
  modulesDir: string;
  keyPath: string;
  certificatePath: string;
  tokenPath: string;
  witness?: Witness;
  agent: AgentSettings;
  hypervisor: HypervisorSettings;
  modules: ResolvedModule[];
}

export const BUILTIN_DEFAULTS = {
  interval: 30,
  compression: 'none',
  blockSize: 64 * 1024, // the engine's DEFAULT_BLOCK_SIZE (test/config/load.test.ts checks)
  failback: 'auto',
  stopMode: 'Shutdown',
  stopTimeoutSeconds: 120,
  startTimeoutSeconds: 300,
} as const;
