// zod schemas of each ps/ script's Result (narrow: only the fields the driver uses).
// PascalCase as PowerShell writes them; enums arrive as strings (scripts call .ToString()).
import { z } from 'zod';

const count = z.number().int().nonnegative();

export const VmStateText = z.enum(['Off', 'Starting', 'Running', 'Stopping', 'Saving', 'Saved', 'Paused', 'Pausing', 'Resuming', 'Reset', 'Other']);
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
});

export const PsAdapter = z.object({
  Name: z.string(),
  MacAddress: z.string(),
  DynamicMac: z.boolean(),
  SwitchName: z.string().nullable(),
});

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

export const PsHost = z.object({
  Name: z.string(),
  FreeMemoryBytes: count,
  TotalMemoryBytes: count,
  LogicalProcessorCount: count,
  SwitchNames: z.array(z.string()),
  MaxConfigurationVersion: z.string(),
});

export const PsFrozenView = z.object({
  ViewId: z.string().min(1),
  TakenAt: z.string(),
  Disks: z.array(z.object({ BasePath: z.string(), ReadPath: z.string(), SizeBytes: count })),
});

export const PsReferences = z.object({
  References: z.array(z.object({ BasePath: z.string(), RctId: z.string().min(1) })),
});

export const PsDiskChanges = z.object({
  Disks: z.array(
    z.object({
      BasePath: z.string(),
      VirtualSizeBytes: count,
      Ranges: z.array(z.object({ Offset: count, Length: count })),
    }),
  ),
});

export const PsPruned = z.object({ Removed: count, Kept: count });

export const PsExport = z.object({ ConfigDir: z.string(), Files: z.array(z.string()) });

export const PsIssue = z.object({
  Kind: z.enum(['MissingSwitch', 'ConfigurationVersion', 'Memory', 'Processor', 'Other']),
  Message: z.string(),
  MessageId: z.number().int().optional(),
});

export const PsReadiness = z.object({ CanStart: z.boolean(), Issues: z.array(PsIssue), FreeMemoryBytes: count });

/** Details of a VM_INCOMPATIBLE error from Register-MirrorReplicaVm. */
export const PsIncompatibleDetails = z.object({ Issues: z.array(PsIssue) });
