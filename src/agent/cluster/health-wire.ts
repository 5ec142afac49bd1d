import { z } from 'zod';
import type { HealthCounters, HealthPolicyMs } from '../../cluster/health';
import { Name, resolveHealthPolicy } from '../../config/common';
import type { ResolvedModule } from '../../config';
import { defineRequest } from '../../peer';
import type { ModuleStatus } from '../control/documents';
import { Epoch } from '../messages';

// The wire and status shapes of the VM health watch (health-watch.ts).

/**
 * Owner -> peer, just before it asks the peer to pull a hung guest: the module's relocation count
 * (and whether health gave up), so the host it moves to does not start the ladder again and send
 * it back for ever. The peer takes the counts once it owns a later epoch than `epoch`.
 */
export const HealthCarry = defineRequest(
  'health.carry',
  z.object({ module: Name, epoch: Epoch, relocations: z.number().int().min(0).max(1000), reason: z.string().max(500) }).strict(),
  z.object({ accepted: z.boolean() }).strict(),
);

/** The module's health policy in milliseconds (built-in defaults when the config gave none). */
export function healthPolicyMs(m: ResolvedModule): HealthPolicyMs {
  const p = m.policies.health ?? resolveHealthPolicy(undefined, undefined);
  return { heartbeatLossMs: p.heartbeatLossSeconds === null ? null : p.heartbeatLossSeconds * 1000, maxRestart: p.maxRestart, maxRelocate: p.maxRelocate, healthyResetMs: p.healthyResetSeconds * 1000, bootGraceMs: m.policies.startTimeoutSeconds * 1000 };
}

export type HealthJson = NonNullable<ModuleStatus['Health']>;

export interface HealthView {
  policy: HealthPolicyMs;
  counters: HealthCounters;
  heartbeat: string | null;
  runsHere: boolean;
  /** An action of the watch under way now. */
  acting: 'restart' | 'relocate' | null;
  holding: string | null;
  lastActionAt: Date | null;
  /** The last action's failure, if it failed. */
  failure: string | null;
  monoNow: number;
}

function summary(v: HealthView): string {
  const c = v.counters;
  if (v.policy.heartbeatLossMs === null) return 'health: not watched';
  if (v.acting === 'restart') return 'health: restarting the hung guest';
  if (v.acting === 'relocate') return 'health: moving the hung guest to the peer';
  if (c.givenUp) return `health: given up (${c.restarts} restarts, ${c.relocations} relocations); it runs as it is`;
  if (!v.runsHere) return 'health: the VM does not run here';
  if (c.lostSince !== null) return `health: heartbeat lost ${Math.round((v.monoNow - c.lostSince) / 1000)} s${v.holding !== null ? `; held: ${v.holding}` : ''}`;
  if (c.graceUntil !== null && v.monoNow < c.graceUntil) return `health: waiting for the guest to answer after the ${c.lastAction?.action ?? 'restart'} (grace ${Math.round((c.graceUntil - v.monoNow) / 1000)} s)`;
  if (!c.armed) return `health: not judged (heartbeat ${v.heartbeat ?? 'none'}; judged once the guest answered)`;
  return 'health: ok';
}

export function healthJson(v: HealthView): HealthJson {
  const c = v.counters;
  return {
    Watched: v.policy.heartbeatLossMs !== null,
    Heartbeat: v.heartbeat,
    LostForMs: c.lostSince === null ? null : Math.max(0, Math.round(v.monoNow - c.lostSince)),
    Restarts: c.restarts,
    Relocations: c.relocations,
    GivenUp: c.givenUp,
    LastAction: c.lastAction?.action ?? null,
    LastActionAt: v.lastActionAt?.toISOString() ?? null,
    LastReason: c.lastAction === null ? null : v.failure === null ? c.lastAction.reason : `${c.lastAction.reason}; it failed: ${v.failure}`,
    Summary: summary(v),
  };
}
