import { z } from 'zod';

// The JSON documents of `vmmirror drain` and `vmmirror resume` (docs/output.md), and the status
// field of maintenance. PascalCase, ISO 8601 UTC, milliseconds and bytes.

const Iso = z.string().datetime();

/** One module of a drain: moved to the peer (with the planned switchover's figures), or why not. */
export const DrainModule = z
  .object({
    Module: z.string(),
    VmName: z.string(),
    /** moved; planned (--what-if: its checks pass); refused (a check failed, nothing moved); failed (the move failed); not-here (this host does not run it). */
    Outcome: z.enum(['moved', 'planned', 'refused', 'failed', 'not-here']),
    To: z.string().nullable(),
    Epoch: z.number().int().nullable(),
    DowntimeMs: z.number().int().nullable(),
    FinalDeltaBytes: z.number().int().nullable(),
    /** The move's own duration (checks, handover, start), this host's clock. */
    DurationMs: z.number().int().nullable(),
    Code: z.string().nullable(),
    Message: z.string().nullable(),
  })
  .strict();
export type DrainModule = z.infer<typeof DrainModule>;

export const DrainDocument = z
  .object({
    Host: z.string(),
    Action: z.enum(['drain', 'resume']),
    WhatIf: z.boolean(),
    /** The host's maintenance flag after the command. */
    InMaintenance: z.boolean(),
    /** A drain a restarted agent took up again (its record said it had not finished). */
    Resumed: z.boolean(),
    StartedAt: Iso,
    FinishedAt: Iso,
    DurationMs: z.number().int(),
    /** Every module, in the order the drain took them (empty for resume). */
    Modules: z.array(DrainModule).max(10_000),
  })
  .strict();
export type DrainDocument = z.infer<typeof DrainDocument>;

/** Status: the maintenance flags this host knows (its own and the peer's) and its last drain. */
export const MaintenanceStatus = z
  .object({
    Hosts: z.array(z.object({ Name: z.string(), InMaintenance: z.boolean(), Since: Iso.nullable(), Draining: z.boolean() }).strict()),
    LastDrain: DrainDocument.nullable(),
  })
  .strict();
export type MaintenanceStatus = z.infer<typeof MaintenanceStatus>;
