import { readFile } from 'node:fs/promises';
import { loadConfig, type LoadedConfig } from '../config';
import { writeFileAtomic } from '../config/write';
import { PeerError, UsageError, VmmirrorError } from '../errors';
import type { Hypervisor } from '../hypervisor/types';
import { type FileRewrite, applyRewrites } from './apply';
import { planFromConfig, rewritesFor } from './from-config';
import type { PeerConnection } from '../peer';
import { BalanceRewrite } from './wire';

// The peer's answer to BalanceRewrite (wire.ts), run by its agent. The module files are read
// afresh from the config directory (the agent's loaded config may predate an earlier balance).
// The rewrites it made are kept for one undo: the asker undoes when its own rewrite fails.

/** Under the CLI's own wait (peer-client.ts): the peer may ask Hyper-V for every VM. */
const RELAY_TIMEOUT_MS = 100_000;

export interface BalancePeerSide {
  answer(body: { planId: string; undo: boolean }): Promise<{ rewritten: string[] }>;
}

export function createBalancePeerSide(config: Pick<LoadedConfig, 'dir' | 'self'>, hypervisor: () => Pick<Hypervisor, 'getVm' | 'findVmsByName'>): BalancePeerSide {
  let last: { planId: string; rewrites: FileRewrite[] } | null = null;
  // One at a time: two applies interleaved could each check a file the other then rewrites.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(f: () => Promise<T>): Promise<T> => {
    const next = queue.then(f, f);
    queue = next.catch(() => undefined);
    return next;
  };

  const apply = async (planId: string): Promise<{ rewritten: string[] }> => {
    const fresh = await loadConfig(config.dir);
    const p = await planFromConfig(fresh, hypervisor);
    if (p.planId !== planId) {
      throw new VmmirrorError('BALANCE_PLAN_CHANGED', `${config.self.Name}'s own plan is ${p.planId}, not ${planId}: its module files or loads differ from this host's`, { details: { PlanId: p.planId, Expected: planId } });
    }
    const rewrites = rewritesFor(p);
    await applyRewrites({ planId, moves: p.moves, rewrites, self: config.self.Name, peer: null });
    last = { planId, rewrites };
    return { rewritten: rewrites.map((r) => r.module) };
  };

  // Undo only what this side wrote for that plan, and only files that still hold what it wrote.
  const undo = async (planId: string): Promise<{ rewritten: string[] }> => {
    // Asked only after this side applied: no record means it was lost (an agent restart), and
    // saying "restored" would hide that the files are still rewritten here.
    if (last === null || last.planId !== planId) throw new VmmirrorError('BALANCE_PLAN_CHANGED', `${config.self.Name} holds no rewrite of plan ${planId} to undo (its agent restarted since?); its module files were left as they are`, { details: { PlanId: planId } });
    const restored: string[] = [];
    for (const r of last.rewrites) {
      if ((await readFile(r.path, 'utf8')) !== r.after) throw new VmmirrorError('BALANCE_PLAN_CHANGED', `${r.path} changed after the balance rewrite; it was not put back`, { details: { Module: r.module } });
      await writeFileAtomic(r.path, r.before);
      restored.push(r.module);
    }
    last = null;
    return { rewritten: restored };
  };

  return { answer: (body) => serial(() => (body.undo ? undo(body.planId) : apply(body.planId))) };
}

/** The asking agent's half: checks the plan id and sends BalanceRewrite to the peer (PEER_UNREACHABLE without a link). */
export async function relayBalanceRewrite(conn: Pick<PeerConnection, 'request'> | undefined, peerName: string, planId: string, undo: boolean): Promise<{ rewritten: string[] }> {
  if (!/^[0-9a-f]{16}$/.test(planId)) throw new UsageError(`planId must be 16 hex digits, got ${JSON.stringify(planId)}`);
  if (conn === undefined) throw new PeerError('PEER_UNREACHABLE', `no peer link to ${peerName} now`);
  return conn.request(BalanceRewrite, { planId, undo }, { timeoutMs: RELAY_TIMEOUT_MS });
}
