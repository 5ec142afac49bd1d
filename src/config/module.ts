import { z } from 'zod';
import { Name, PolicySettings, ReplicationSettings } from './common';
import { DEFAULT_HOOK_TIMEOUT_SECONDS, hookPathProblem } from '../hooks/path-rules';

// modules/<name>.json: one VM under mirror. Its disks exist on both hosts: Path on the default
// primary, ReplicaPath on the other; whichever host runs the VM sends from its own copy.

export const DiskEntry = z
  .object({
    Path: z.string().min(1).describe("the disk's copy on the module's DefaultPrimary (absolute base VHDX)"),
    MaxBytes: z.number().int().min(1).optional().describe("largest size this disk's file may reach on the receiving host; default: the virtual size of this host's VM disk plus VHDX overhead (without a VM registered there, a cycle is refused until this is set)"),
    ReplicaPath: z.string().min(1).optional().describe("the disk's copy on the other host; default <DataDirectory>/replicas/<Module>/<file name of Path>"),
  })
  .strict();
export type DiskEntry = z.infer<typeof DiskEntry>;

const HookPath = (what: string) =>
  z
    .string()
    .min(1)
    .superRefine((p, ctx) => {
      const problem = hookPathProblem(p);
      if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional()
    .describe(`PowerShell script run ${what} (absolute, or relative to the config directory and inside it); docs/hooks.md`);

export const Hooks = z
  .object({
    PreStart: HookPath('before the VM starts on this host; failing (non-zero exit, timeout, missing) aborts the start'),
    PostStart: HookPath('after the VM started; a failure is reported and changes nothing'),
    PreStop: HookPath('before vmmirror stops the VM on purpose; a failure aborts a switchover, failback or drain (the VM keeps running where it is); a module stop goes on and reports it; a fence runs no hooks'),
    PostStop: HookPath('after the VM stopped; a failure is reported and changes nothing'),
    TimeoutSeconds: z
      .number()
      .int()
      .min(1)
      .max(3600)
      .optional()
      .describe(`seconds each hook may run before its whole process tree is killed (a failure); default ${DEFAULT_HOOK_TIMEOUT_SECONDS}`),
  })
  .strict();
export type Hooks = z.infer<typeof Hooks>;

export const ModuleFile = z
  .object({
    $schema: z.string().optional(),
    Name: Name.describe('module name; the file must be modules/<Name>.json'),
    VmName: z.string().min(1).max(100).describe('Hyper-V VM name (data, matched exactly)'),
    VmId: z
      .string()
      .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'must be a GUID like 3f2b1c7e-0a1b-4c2d-8e9f-0123456789ab')
      .transform((s) => s.toLowerCase())
      .optional()
      .describe('VM GUID; resolved from VmName when absent (must then be unique)'),
    Disks: z
      .union([z.literal('auto'), z.array(DiskEntry).min(1, 'must list at least one disk (or be "auto")')])
      .default('auto')
      .describe('"auto": the disks of the VM registered on each host (names and sizes from that VM; a host without it refuses to receive), or the list of disks'),
    DefaultPrimary: Name.describe('host (from cluster.json) that runs the VM when both are up'),
    Replication: ReplicationSettings.default({}),
    Policies: PolicySettings.default({}),
    Hooks: Hooks.default({}),
    Weight: z.number().min(0).max(1e6).optional().describe('load weight for balancing; default from memory and vCPU'),
    Pin: Name.optional().describe('host this module must stay on when balancing'),
    AntiAffinityGroup: Name.optional().describe('modules of one group are spread over both hosts'),
  })
  .strict();
export type ModuleFile = z.infer<typeof ModuleFile>;
