import { z } from 'zod';

// The one durable record per module and host (DESIGN C2): state, epoch, owner and generation live
// together, so a restarted agent never pairs an epoch with another epoch's generation.

export const ModuleState = z.enum(['PRIM', 'SECOND', 'ALONE', 'WAIT', 'STOP']);
export type ModuleState = z.infer<typeof ModuleState>;

export const WaitReason = z.enum([
  'cold-start', // after an agent start: not yet known whether this copy is the newest (C3)
  'no-quorum', // this host ran the VM and fenced it: it lost its lease
  'resync', // the copy here is stale (the epoch moved on): being resynchronised from the peer
  'resync-failed',
  'start-failed',
]);
export type WaitReason = z.infer<typeof WaitReason>;

export const ModuleRecord = z
  .object({
    Version: z.literal(1),
    Module: z.string().min(1),
    State: ModuleState,
    WaitReason: WaitReason.nullable(),
    /** Ownership epoch: only grows; every change of who runs the VM takes a new one. */
    Epoch: z.number().int().min(0),
    /** Host that runs the VM in this epoch; null before the first start. */
    Owner: z.string().min(1).nullable(),
    /** Generation of this host's copy of the disks. */
    Generation: z.number().int().min(0),
  })
  .strict();
export type ModuleRecord = z.infer<typeof ModuleRecord>;
