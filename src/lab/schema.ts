import { z } from 'zod';
import { Name, Port } from '../config/common';

// lab.json (the description `vmmirror lab create` writes and every other `lab` command reads) and
// the JSON documents the lab commands print. zod is the single source of truth for both.

export const LAB_FILE = 'lab.json';
export const LAB_HOSTS = ['hva', 'hvb'] as const;
export type LabHostName = (typeof LAB_HOSTS)[number];

export const LabHost = z
  .object({
    Name: z.enum(LAB_HOSTS),
    ConfigDirectory: z.string().min(1).describe('`vmmirror agent --dir` / `vmmirror guard --dir` of this host'),
    DataDirectory: z.string().min(1),
    SimDirectory: z.string().min(1).describe("the simulated hypervisor's state folder (Hypervisor.Options.StateDirectory)"),
    DisksDirectory: z.string().min(1).describe("this host's copies of the VM disks, one folder per module"),
    Address: z.string().min(1),
    Port: Port,
    ControlSocket: z.string().min(1).describe('Unix socket (Windows: named pipe) of the control API; reaches into a network namespace'),
    CertificateFingerprint: z.string().min(1),
  })
  .strict();
export type LabHost = z.infer<typeof LabHost>;

export const LabWitness = z
  .object({
    Directory: z.string().min(1).describe('`vmmirror witness run --dir`'),
    Address: z.string().min(1),
    Port: Port,
    CertificateFingerprint: z.string().min(1),
  })
  .strict();

export const LabCopy = z.object({ Host: z.enum(LAB_HOSTS), Path: z.string().min(1) }).strict();

export const LabModule = z
  .object({
    Name: Name,
    VmName: z.string().min(1),
    VmId: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
    DefaultPrimary: z.enum(LAB_HOSTS),
    MacAddress: z.string().regex(/^[0-9A-F]{12}$/),
    Writer: z.object({ RatePerSecond: z.number().min(0), UnitsPerWrite: z.number().int().min(1), Seed: z.number().int().min(0) }).strict(),
    DiskBytes: z.number().int().positive().describe('virtual size of the (one) disk'),
    /** One copy per host: the default primary's is the module's Path, the other's its ReplicaPath. */
    Copies: z.array(LabCopy).length(2),
  })
  .strict();
export type LabModule = z.infer<typeof LabModule>;

export const LabFile = z
  .object({
    Version: z.literal(1),
    Directory: z.string().min(1),
    CreatedAt: z.string().datetime(),
    Seed: z.number().int().min(0).max(0xffffffff).describe('seeds the guest writers (replay a lab with --seed)'),
    ReplicationIntervalSeconds: z.number().int().min(1),
    HeartbeatIntervalMs: z.number().int(),
    PeerLossTimeoutMs: z.number().int(),
    Hosts: z.array(LabHost).length(2),
    Witness: LabWitness,
    Modules: z.array(LabModule),
  })
  .strict();
export type LabFile = z.infer<typeof LabFile>;

/** What `lab start`/`stop`/`crash` did, one entry per process of the lab. */
export const LabProcessOutcome = z.object({
  Name: z.string().describe('witness, hva-agent, hva-guard, hvb-agent, hvb-guard'),
  Pid: z.number().int().nullable(),
  Action: z.enum(['started', 'already-running', 'stopped', 'killed', 'not-running']),
  LogFile: z.string(),
});
export type LabProcessOutcome = z.infer<typeof LabProcessOutcome>;

export const LabActionOutput = z.object({
  Directory: z.string(),
  Processes: z.array(LabProcessOutcome),
  /** Simulated VMs this command stopped (stop: shut down cleanly; crash: SIGKILLed). */
  Vms: z.array(z.object({ Host: z.enum(LAB_HOSTS), VmId: z.string(), Action: z.enum(['shut-down', 'killed']) })),
});
export type LabActionOutput = z.infer<typeof LabActionOutput>;

export const CopyReport = z.object({
  Host: z.enum(LAB_HOSTS),
  Path: z.string(),
  Running: z.boolean().describe('the VM runs on this copy now'),
  /** null: not judged (a running copy has no consistent read without a frozen view; see Note). */
  Consistent: z.boolean().nullable(),
  PrefixSeq: z.number().int().nullable().describe('the copy equals the history after writes 1..PrefixSeq'),
  /** False: a consistent prefix of a history that was superseded (this host's writes after the last replicated generation, lost in a failover). */
  OnCurrentHistory: z.boolean().nullable(),
  PatternUnits: z.number().int().nullable(),
  Mismatches: z.array(z.object({ Offset: z.number().int(), ExpectedSeq: z.array(z.number().int()), FoundSeq: z.number().int().nullable(), Note: z.string().optional() })),
  Note: z.string().optional(),
});
export type CopyReport = z.infer<typeof CopyReport>;

export const VmReport = z.object({
  Module: z.string(),
  VmId: z.string(),
  DefaultPrimary: z.enum(LAB_HOSTS),
  RunningOn: z.array(z.enum(LAB_HOSTS)),
  WritesMade: z.number().int().describe('pattern writes the guest made, over every run on both hosts'),
  WritesLost: z.number().int().describe('writes made that the newest copy (the running one, else the newest stopped one) does not hold'),
  WritesLostSeconds: z.number().nullable().describe('WritesLost at the writer rate'),
  Runs: z.array(z.object({ Host: z.enum(LAB_HOSTS), Boot: z.string().nullable(), FirstSeq: z.number().int(), LastSeq: z.number().int(), Writes: z.number().int() })),
  Copies: z.array(CopyReport),
  Problems: z.array(z.string()),
});
export type VmReport = z.infer<typeof VmReport>;

export const LabVerifyOutput = z.object({
  Directory: z.string(),
  Ok: z.boolean(),
  Vms: z.array(VmReport),
  Problems: z.array(z.string()),
});
export type LabVerifyOutput = z.infer<typeof LabVerifyOutput>;
