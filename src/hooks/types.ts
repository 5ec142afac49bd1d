import { z } from 'zod';

// What a hook is told (the one base64 JSON argument) and what running it gave. The zod schemas are
// the single source of truth: the argument is built through HookInput, the result through HookResult.

export const HookKind = z.enum(['PreStart', 'PostStart', 'PreStop', 'PostStop']);
export type HookKind = z.infer<typeof HookKind>;

/** Why the VM starts or stops: which move of the cluster (or of an operator) asked for it. */
export const HookReason = z.enum(['failover', 'failback', 'switchover', 'takeover', 'restart', 'relocate', 'drain', 'manual']);
export type HookReason = z.infer<typeof HookReason>;

/** The JSON a hook receives, base64-encoded as its one argument. PascalCase: PowerShell reads it. */
export const HookInput = z
  .object({
    Version: z.literal(1),
    Module: z.string(),
    VmId: z.string().nullable(),
    VmName: z.string(),
    Host: z.string(),
    Action: HookKind,
    Reason: HookReason,
    Epoch: z.number().int().min(0),
  })
  .strict();
export type HookInput = z.infer<typeof HookInput>;

/** What the caller knows at the moment of the hook: the VM's id (if resolved yet) and the epoch. */
export interface HookFacts {
  vmId?: string | null;
  epoch: number;
}

/**
 * One run of a hook. `ok` only for exit code 0 within the timeout. The tails are the last bytes of
 * each stream (HOOK_OUTPUT_TAIL_BYTES at most): a hook that floods its output costs no memory.
 */
export const HookResult = z
  .object({
    kind: HookKind,
    script: z.string(),
    ok: z.boolean(),
    /** null: killed (timeout) or never started. */
    exitCode: z.number().int().nullable(),
    durationMs: z.number().min(0),
    timedOut: z.boolean(),
    /** Killed because the caller aborted (agent shutdown), not by its timeout. */
    aborted: z.boolean(),
    stdoutTail: z.string(),
    stderrTail: z.string(),
    /** Why it could not be started (executable missing...), when it was not. */
    spawnError: z.string().optional(),
  })
  .strict();
export type HookResult = z.infer<typeof HookResult>;

/** Bytes kept of each of a hook's streams (the end of it: where a script says why it failed). */
export const HOOK_OUTPUT_TAIL_BYTES = 4096;

/** The field of ResolvedModule.hooks that holds each kind's script. */
export const HOOK_FIELD = { PreStart: 'preStart', PostStart: 'postStart', PreStop: 'preStop', PostStop: 'postStop' } as const satisfies Record<HookKind, string>;
