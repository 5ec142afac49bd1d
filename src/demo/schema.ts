import { z } from 'zod';

// The one document `vmmirror demo --json` prints (docs/demo.md): the figures the text report shows,
// PascalCase, bytes, milliseconds, ISO 8601 UTC (docs/output.md). zod is its single source of truth.

const Host = z.enum(['hva', 'hvb']);
const Iso = z.string().datetime();

export const DemoCopy = z.object({
  Host: Host,
  /** The copy equals the VM's write history after writes 1..PrefixSeq (the pattern verifier, `lab verify --stopped`). */
  PrefixSeq: z.number().int().nullable(),
  Consistent: z.boolean().nullable(),
});

export const DemoVerification = z.object({
  /** Both copies consistent, on the current history, through the same write. */
  PatternEqual: z.boolean(),
  /** `qemu-img compare` of the two copies: identical, differs, or not-run (no qemu-img on the PATH). */
  QemuImgCompare: z.enum(['identical', 'differs', 'not-run']),
  Copies: z.array(DemoCopy),
  /** PatternEqual, and qemu-img compare identical when it ran. */
  Equal: z.boolean(),
});

export const DemoVm = z.object({
  Module: z.string(),
  VmName: z.string(),
  DefaultPrimary: Host.describe('after balance'),
  DiskBytes: z.number().int(),
  OnKilledHost: z.boolean().describe('its default primary was the host the demo killed'),
  /** From the SIGKILL of its host to its start on the survivor (null: not on the killed host). */
  KillToRunningMs: z.number().int().nullable(),
  RanOnSurvivor: z.boolean(),
  /** The writes the guest made on the killed host after its last replicated generation (RPO), and at the writer's rate. */
  WritesLost: z.number().int().nullable(),
  WritesLostSeconds: z.number().nullable(),
  /** What the returning host's copy needed: bytes sent by the resync against the disk's size. */
  ResyncBytes: z.number().int().nullable(),
  ResyncDiskBytes: z.number().int().nullable(),
  CameBack: z.boolean().describe('runs on its default primary again after the failback'),
  FailbackDowntimeMs: z.number().int().nullable(),
  /** The planned `vmmirror failover` of this VM (null: another VM was moved). */
  PlannedFailover: z
    .object({ From: Host, To: Host, DowntimeMs: z.number().int(), FinalDeltaBytes: z.number().int(), WritesLost: z.number().int(), BackHomeDowntimeMs: z.number().int().nullable().describe('the automatic failback that brought it home (Failback auto)') })
    .nullable(),
  Verification: DemoVerification,
});
export type DemoVm = z.infer<typeof DemoVm>;

export const DemoReport = z.object({
  Directory: z.string().describe('the lab folder (removed at the end unless --keep)'),
  Kept: z.boolean(),
  Seed: z.number().int(),
  StartedAt: Iso,
  DurationMs: z.number().int(),
  Settings: z.object({
    Vms: z.number().int(),
    DiskBytes: z.number().int(),
    HeartbeatIntervalMs: z.number().int(),
    PeerLossTimeoutMs: z.number().int(),
    ReplicationIntervalSeconds: z.number().int(),
    FailbackStableSeconds: z.number().int(),
    WritesPerSecond: z.number(),
  }),
  Balance: z.object({
    PlanId: z.string(),
    Method: z.string(),
    Moves: z.array(z.object({ Module: z.string(), From: z.string(), To: z.string() })),
    Hosts: z.array(z.object({ Name: z.string(), LoadBefore: z.number(), LoadAfter: z.number() })),
  }),
  KilledHost: Host,
  Survivor: Host,
  Vms: z.array(DemoVm),
  /** Which judges ran: the pattern verifier always, qemu-img compare when qemu-img is on the PATH. */
  JudgedBy: z.array(z.enum(['pattern-verifier', 'qemu-img compare'])),
  Ok: z.boolean(),
  Problems: z.array(z.string()),
});
export type DemoReport = z.infer<typeof DemoReport>;
