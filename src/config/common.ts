import { z } from 'zod';

// Small field schemas shared by the cluster, module and host-local files.

/** A host or module name: safe as a file name and as a log field. */
export const Name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit');

/** SHA-256 of the certificate (DER): 64 hex digits, colons allowed (as `openssl x509 -fingerprint -sha256` prints). */
export const Fingerprint = z
  .string()
  .refine((s) => /^[0-9A-Fa-f]{64}$/.test(s.replace(/:/g, '')), 'must be a SHA-256 fingerprint: 64 hex digits (colons allowed); paste the one `vmmirror init` printed on that host')
  .transform((s) => canonicalFingerprint(s));

/** The peer link's canonical form: upper-case hex pairs joined by ':'. */
export function canonicalFingerprint(s: string): string {
  return (s.replace(/:/g, '').toUpperCase().match(/../g) ?? []).join(':');
}

export const Port = z.number().int().min(1).max(65535);

/** A cron expression (6 fields with seconds, or 5) or a whole number of seconds. */
export const Interval = z.union([z.number().int().min(1).max(86400), z.string()]).superRefine((v, ctx) => {
  if (typeof v === 'number') return;
  // cron (and luxon under it) loads only for a cron-string interval: every CLI command imports
  // these schemas, and most configs give seconds (docs/performance.md, CLI start-up).
  const { validateCronExpression } = require('cron') as typeof import('cron');
  const r = validateCronExpression(v);
  if (!r.valid) ctx.addIssue({ code: 'custom', message: `must be a cron expression or a number of seconds (${r.error?.message ?? 'invalid'})` });
});
export type Interval = z.infer<typeof Interval>;

export const Compression = z.enum(['none', 'deflate', 'brotli']);
export type Compression = z.infer<typeof Compression>;

export const StopMode = z.enum(['Shutdown', 'TurnOff', 'Save']);
export const FailbackPolicy = z.enum(['auto', 'manual']);
/** Which VMs a takeover or failback moves first (High first); NoAutoStart: never started or moved by the cluster on its own. */
export const StartPriority = z.enum(['High', 'Medium', 'Low', 'NoAutoStart']);
export type StartPriority = z.infer<typeof StartPriority>;

/** Block size for change detection: a power of two from 4 KiB to 16 MiB (the engine's MIN/MAX_BLOCK_SIZE). */
export const BlockSize = z
  .number()
  .int()
  .refine((n) => n >= 4096 && n <= 16 * 1024 * 1024 && (n & (n - 1)) === 0, 'must be a power of two between 4096 and 16777216');

/** Replication settings; every field optional so Defaults and modules can each set a part. */
export const ReplicationSettings = z
  .object({
    Interval: Interval.optional().describe('cron expression (seconds field first when 6 fields) or seconds; default 30'),
    Compression: Compression.optional().describe('per-stream compression on the peer link; default none'),
    BlockSize: BlockSize.optional().describe('bytes per hashed block; default 65536 (64 KiB)'),
  })
  .strict();
export type ReplicationSettings = z.infer<typeof ReplicationSettings>;

// Proxmox's max_restart / max_relocate, for a guest that stopped answering (docs/cluster.md "VM health").
export const HealthSettings = z
  .object({
    HeartbeatLossSeconds: z.number().int().min(1).max(86400).nullable().optional().describe('restart a running VM whose guest heartbeat was OK and then stayed lost this long; null = not watched; default 60'),
    MaxRestart: z.number().int().min(0).max(100).optional().describe('restarts (TurnOff + Start) on the host that runs it before it is moved to the peer; default 1'),
    MaxRelocate: z.number().int().min(0).max(100).optional().describe('planned switchovers to the peer for a hung guest before vmmirror gives up and leaves it running; default 1'),
    HealthyResetSeconds: z.number().int().min(1).max(86400 * 30).optional().describe('the counts start again after the guest answered this long without a break; default 3600'),
  })
  .strict();
export type HealthSettings = z.infer<typeof HealthSettings>;

/** The health policy with defaults applied: the module's fields over the cluster Defaults', field by field. */
export interface HealthPolicy {
  heartbeatLossSeconds: number | null;
  maxRestart: number;
  maxRelocate: number;
  healthyResetSeconds: number;
}

export function resolveHealthPolicy(own: HealthSettings | undefined, defaults: HealthSettings | undefined): HealthPolicy {
  const pick = <K extends keyof HealthSettings>(k: K): HealthSettings[K] => (own?.[k] !== undefined ? own[k] : defaults?.[k]);
  const loss = pick('HeartbeatLossSeconds');
  return { heartbeatLossSeconds: loss === undefined ? 60 : loss, maxRestart: pick('MaxRestart') ?? 1, maxRelocate: pick('MaxRelocate') ?? 1, healthyResetSeconds: pick('HealthyResetSeconds') ?? 3600 };
}

export const PolicySettings = z
  .object({
    Failback: FailbackPolicy.optional().describe('after resync, return to DefaultPrimary automatically or on command; default auto'),
    StopMode: StopMode.optional().describe('how the VM is stopped for fencing and switchover; default Shutdown'),
    StopTimeoutSeconds: z.number().int().min(1).max(3600).optional().describe('default 120'),
    StartTimeoutSeconds: z.number().int().min(1).max(3600).optional().describe('default 300'),
    // SafeKit's syncdelta: availability after a double failure, bought with the writes made after
    // the last thing this host knew (docs/cluster.md "Cold start alone" says what it risks).
    ColdStartAloneSeconds: z
      .number()
      .int()
      .min(0)
      .max(86400 * 30)
      .nullable()
      .optional()
      .describe('after both hosts were down, let this host start the VM alone (peer silent) when its copy is at most this many seconds older than the last it knew; null or absent = never (default)'),
    Health: HealthSettings.optional().describe('guest heartbeat watch: restart, then relocate, a hung guest (docs/cluster.md "VM health")'),
    StartPriority: StartPriority.optional().describe('order of takeovers and automatic failbacks on a host (High first; a lower one waits while a higher one is moving); NoAutoStart: never taken over, failed back or first started by the cluster on its own (an operator moves it); default Medium'),
  })
  .strict();
export type PolicySettings = z.infer<typeof PolicySettings>;
