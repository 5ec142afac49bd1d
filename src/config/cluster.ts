import { z } from 'zod';
import { Fingerprint, Name, PolicySettings, Port, ReplicationSettings } from './common';

// cluster.json: identical on both hosts. Everything both agents must agree on.

/**
 * One spelling per address, to tell "the same address written another way" (HVB.lan vs hvb.lan.,
 * ::1 vs 0:0:0:0:0:0:0:1, 127.000.000.001) from a second network: the URL parser's host form.
 */
function canonicalAddress(a: string): string {
  try {
    return new URL(`http://${a.includes(':') ? `[${a}]` : a}/`).hostname.replace(/\.$/, '');
  } catch {
    return a.trim().toLowerCase().replace(/\.$/, '');
  }
}

export const HostEntry = z
  .object({
    Name: Name.describe('host name as used in module files (DefaultPrimary, Pin)'),
    Address: z.string().min(1).describe('IP address or DNS name the peer connects to'),
    Port: Port.default(7420).describe('peer-link TLS port; default 7420'),
    CertificateFingerprint: Fingerprint.describe('SHA-256 of the host certificate, printed by `vmmirror init` on that host'),
    // A second network for heartbeats only: a cut production LAN alone is then no lost peer.
    SecondaryAddress: z.string().min(1).optional().describe('optional second heartbeat address (a second network): heartbeats also travel there, replication does not; the peer is lost only when both paths are silent'),
    SecondaryPort: Port.optional().describe('TLS port on SecondaryAddress; default the same as Port'),
  })
  .strict()
  .refine((h) => h.SecondaryPort === undefined || h.SecondaryAddress !== undefined, { message: 'SecondaryPort needs SecondaryAddress', path: ['SecondaryPort'] })
  .refine((h) => h.SecondaryAddress === undefined || canonicalAddress(h.SecondaryAddress) !== canonicalAddress(h.Address), { message: 'SecondaryAddress must differ from Address (a second network)', path: ['SecondaryAddress'] });
export type HostEntry = z.infer<typeof HostEntry>;

/** The third vote (cluster issue): a `vmmirror witness` process or a file share. */
export const Witness = z.discriminatedUnion('Kind', [
  z
    .object({
      Kind: z.literal('Agent'),
      Address: z.string().min(1),
      Port: Port.default(7422),
      CertificateFingerprint: Fingerprint,
    })
    .strict(),
  z.object({ Kind: z.literal('FileShare'), Path: z.string().min(1).describe('UNC path, e.g. \\\\nas\\vmmirror') }).strict(),
]);
export type Witness = z.infer<typeof Witness>;

export const AgentSettings = z
  .object({
    ControlPort: Port.optional().describe('local control API on 127.0.0.1:<port>; default 7421 unless ControlSocket is set'),
    ControlSocket: z.string().min(1).optional().describe('Unix socket path or Windows named pipe (\\\\.\\pipe\\vmmirror) instead of a port'),
    HeartbeatIntervalMs: z.number().int().min(100).max(60000).default(1000),
    PeerLossTimeoutMs: z.number().int().min(500).max(600000).default(5000),
    MaxConcurrentCycles: z.number().int().min(1).max(64).default(2),
    BandwidthLimitBytesPerSecond: z.number().int().min(1024).nullable().default(null).describe('outgoing delta streams, whole agent; null = unlimited'),
    CycleTimeoutSeconds: z.number().int().min(5).max(86400).default(3600),
    FailbackStableSeconds: z.number().int().min(1).max(86400).default(30).describe('how long a returned default primary must stay in sync before an automatic failback'),
    FailbackDamping: z
      .object({ MaxReturns: z.number().int().min(1).max(1000).default(3), WindowMinutes: z.number().int().min(1).max(10080).default(60) })
      .strict()
      .default({ MaxReturns: 3, WindowMinutes: 60 })
      .describe('no automatic failback to a host that came back (was resynchronised) more than MaxReturns times in WindowMinutes: a flapping host keeps only the replica'),
  })
  .strict()
  .refine((a) => !(a.ControlPort !== undefined && a.ControlSocket !== undefined), { message: 'set ControlPort or ControlSocket, not both', path: ['ControlSocket'] });
export type AgentSettings = z.infer<typeof AgentSettings>;

export const HypervisorSettings = z
  .object({
    Driver: z.enum(['hyperv', 'simulated']).describe('hyperv in production; simulated for tests and the demo'),
    Options: z.record(z.string(), z.unknown()).default({}).describe('driver-specific options, checked by the driver'),
  })
  .strict();
export type HypervisorSettings = z.infer<typeof HypervisorSettings>;

export const ModuleDefaults = z
  .object({ Replication: ReplicationSettings.optional(), Policies: PolicySettings.optional() })
  .strict();

export const ClusterFile = z
  .object({
    $schema: z.string().optional(),
    ClusterName: Name,
    Hosts: z
      .array(HostEntry)
      .length(2, 'must list exactly two hosts')
      .refine((h) => h.length !== 2 || h[0].Name.toLowerCase() !== h[1].Name.toLowerCase(), 'the two hosts must have different names'),
    DataDirectory: z.string().min(1).describe('replicas, journals and agent state live here (absolute, or relative to the config directory)'),
    ModulesDirectory: z.string().min(1).default('modules').describe('module files (*.json); relative to the config directory'),
    Witness: Witness.optional(),
    Defaults: ModuleDefaults.default({}),
    Agent: AgentSettings.default({ HeartbeatIntervalMs: 1000, PeerLossTimeoutMs: 5000, MaxConcurrentCycles: 2, BandwidthLimitBytesPerSecond: null, CycleTimeoutSeconds: 3600, FailbackStableSeconds: 30, FailbackDamping: { MaxReturns: 3, WindowMinutes: 60 } }),
    Hypervisor: HypervisorSettings.default({ Driver: 'hyperv', Options: {} }),
  })
  .strict()
  .refine((c) => c.Agent.HeartbeatIntervalMs * 2 <= c.Agent.PeerLossTimeoutMs, {
    message: 'PeerLossTimeoutMs must be at least twice HeartbeatIntervalMs',
    path: ['Agent', 'PeerLossTimeoutMs'],
  });
export type ClusterFile = z.infer<typeof ClusterFile>;
