// zod schemas of each ps/ script's Result (narrow: only the fields the driver uses).
// PascalCase as PowerShell writes them; enums arrive as strings (scripts call .ToString()).
import { z } from 'zod';

const count = z.number().int().nonnegative();

export const VmStateText = z.enum(['Off', 'Starting', 'Running', 'Stopping', 'Saving', 'Saved', 'Paused', 'Pausing', 'Resuming', 'Reset', 'Other']);
export type VmStateText = z.infer<typeof VmStateText>;
export const HeartbeatText = z.enum([
  'Unknown',
  'Disabled',
  'NoContact',
  'Error',
  'LostCommunication',
  'OkApplicationsUnknown',
  'OkApplicationsHealthy',
  'OkApplicationsCritical',
  'Paused',
]);
export type HeartbeatText = z.infer<typeof HeartbeatText>;

export const PsDisk = z.object({
  Path: z.string(),
  BasePath: z.string(),
  Format: z.string(),
  Type: z.string(),
  ControllerType: z.string(),
  ControllerNumber: count,
  ControllerLocation: count,
  SizeBytes: count,
  FileSizeBytes: count,
  // Set (with sizes 0) when the drive cannot be replicated: pass-through, missing file, in use elsewhere.
  Problem: z.string().nullable().optional(),
});
export type PsDisk = z.infer<typeof PsDisk>;

export const PsAdapter = z.object({
  Name: z.string(),
  MacAddress: z.string(),
  DynamicMac: z.boolean(),
  SwitchName: z.string().nullable(),
});
export type PsAdapter = z.infer<typeof PsAdapter>;

export const PsVm = z.object({
  Id: z.string().uuid(),
  Name: z.string(),
  // Unknown future states (e.g. the *Critical family) are mapped to Other by the driver.
  State: z.string(),
  Heartbeat: z.string().nullable(),
  MemoryBytes: count,
  ProcessorCount: count,
  ConfigurationVersion: z.string(),
  Generation: count,
  Disks: z.array(PsDisk),
  NetworkAdapters: z.array(PsAdapter),
});
export type PsVm = z.infer<typeof PsVm>;

export const PsVmList = z.object({ Vms: z.array(PsVm) });
export type PsVmList = z.infer<typeof PsVmList>;

export const PsHost = z.object({
  Name: z.string(),
  FreeMemoryBytes: count,
  TotalMemoryBytes: count,
  LogicalProcessorCount: count,
  SwitchNames: z.array(z.string()),
  MaxConfigurationVersion: z.string(),
});
export type PsHost = z.infer<typeof PsHost>;

export const PsConsistency = z.enum(['Application', 'Crash']);
export type PsConsistency = z.infer<typeof PsConsistency>;

export const PsFrozenView = z.object({
  ViewId: z.string().min(1),
  TakenAt: z.string(),
  Consistency: PsConsistency,
  /** Why application consistency was not had (the platform's words), when Consistency is Crash after a try. */
  FallbackReason: z.string().nullable().optional(),
  Disks: z.array(z.object({ BasePath: z.string(), ReadPath: z.string(), SizeBytes: count })),
});
export type PsFrozenView = z.infer<typeof PsFrozenView>;

export const PsReferences = z.object({
  References: z.array(z.object({ BasePath: z.string(), RctId: z.string().min(1) })),
  /** RCT ids of the new reference point whose disk could not be told: not usable, but ours to prune. */
  UnmatchedRctIds: z.array(z.string()),
});
export type PsReferences = z.infer<typeof PsReferences>;

export const PsDiskChanges = z.object({
  Disks: z.array(
    z.object({
      BasePath: z.string(),
      VirtualSizeBytes: count,
      Ranges: z.array(z.object({ Offset: count, Length: count })),
    }),
  ),
});
export type PsDiskChanges = z.infer<typeof PsDiskChanges>;

/** Remove-MirrorLeftoverView: the views released, and CreateSnapshot jobs still running at its deadline. */
export const PsLeftovers = z.object({ Released: z.array(z.string()), PendingJobIds: z.array(z.string()) });
export type PsLeftovers = z.infer<typeof PsLeftovers>;

/** Details a failed New-MirrorFrozenView adds once CreateSnapshot was accepted: what to clean up. */
export const PsFreezeFailureDetails = z.object({ JobId: z.string().nullable().optional(), ViewId: z.string().nullable().optional() });
export type PsFreezeFailureDetails = z.infer<typeof PsFreezeFailureDetails>;

export const PsPruned = z.object({ Removed: count, Kept: count });
export type PsPruned = z.infer<typeof PsPruned>;

export const PsExport = z.object({ ConfigDir: z.string(), Files: z.array(z.string()) });
export type PsExport = z.infer<typeof PsExport>;

export const PsIssue = z.object({
  Kind: z.enum(['MissingSwitch', 'ConfigurationVersion', 'Memory', 'Processor', 'Other']),
  Message: z.string(),
  MessageId: z.number().int().optional(),
});
export type PsIssue = z.infer<typeof PsIssue>;

export const PsReadiness = z.object({ CanStart: z.boolean(), Issues: z.array(PsIssue), FreeMemoryBytes: count });
export type PsReadiness = z.infer<typeof PsReadiness>;

/** Details of a VM_INCOMPATIBLE error from Register-MirrorReplicaVm. */
export const PsIncompatibleDetails = z.object({ Issues: z.array(PsIssue) });
export type PsIncompatibleDetails = z.infer<typeof PsIncompatibleDetails>;
