import { z } from 'zod';
import { Name, PolicySettings, ReplicationSettings } from './common';

// modules/<name>.json: one VM under mirror.

export const DiskEntry = z
  .object({
    Path: z.string().min(1).describe('base VHDX on the primary (absolute)'),
    MaxBytes: z.number().int().min(1).optional().describe('largest size the replica file may reach; default: the source file size at the first cycle, capped by the VM disk'),
    ReplicaPath: z.string().min(1).optional().describe('where the secondary keeps the replica; default <DataDirectory>/replicas/<Module>/<file name>'),
  })
  .strict();
export type DiskEntry = z.infer<typeof DiskEntry>;

export const Hooks = z
  .object({
    PreStart: z.string().min(1).optional(),
    PostStart: z.string().min(1).optional(),
    PreStop: z.string().min(1).optional(),
    PostStop: z.string().min(1).optional(),
  })
  .strict();

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
    Disks: z.union([z.literal('auto'), z.array(DiskEntry).min(1, 'must list at least one disk (or be "auto")')]).default('auto'),
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
