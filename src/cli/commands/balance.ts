import { z } from 'zod';
import { loadConfig } from '../../config';
import { UsageError, VmmirrorError } from '../../errors';
import type { CommandOutcome } from '../command';
import { emit } from '../output';

// `vmmirror balance [--apply [--local-only --expect <id>]]`: the plan from this host's config
// (docs/balance.md), and its rewrite of the module files.

const Host = z.object({ Name: z.string(), CurrentLoad: z.number(), ProposedLoad: z.number() });
const Module = z.object({
  Name: z.string(),
  Load: z.number(),
  LoadSource: z.enum(['Weight', 'Vm']),
  MemoryBytes: z.number().int().nullable(),
  ProcessorCount: z.number().int().nullable(),
  CurrentPrimary: z.string(),
  ProposedPrimary: z.string(),
  Pin: z.string().nullable(),
  AntiAffinityGroup: z.string().nullable(),
  Movable: z.boolean(),
  ImmovableReason: z.string().nullable(),
});
export const BalanceDocument = z.object({
  Cluster: z.string(),
  Host: z.string(),
  PlanId: z.string(),
  Method: z.enum(['enumeration', 'dp', 'heuristic']),
  Exact: z.boolean(),
  PlanningMs: z.number(),
  Hosts: z.array(Host),
  Modules: z.array(Module),
  Moves: z.array(z.object({ Module: z.string(), From: z.string(), To: z.string() })),
  Applied: z.boolean(),
  RewrittenHosts: z.array(z.string()),
});
export type BalanceDocument = z.infer<typeof BalanceDocument>;

/** The peer recomputes the plan (its driver may ask Hyper-V for every VM) and rewrites its files. */
const PEER_TIMEOUT_MS = 120_000;

export interface BalanceOptions {
  dir?: string;
  apply?: boolean;
  localOnly?: boolean;
  expect?: string;
}

function text(d: BalanceDocument): string {
  const hosts = d.Hosts.map((h) => `  ${h.Name.padEnd(16)} load ${h.CurrentLoad} -> ${h.ProposedLoad}`);
  const moves = d.Moves.length === 0 ? ['  (none: the default primaries are already balanced)'] : d.Moves.map((m) => `  ${m.Module.padEnd(16)} ${m.From} -> ${m.To}`);
  const fixed = d.Modules.filter((m) => !m.Movable).map((m) => `  ${m.Name} stays on ${m.CurrentPrimary}: ${m.ImmovableReason ?? ''}`);
  const how = `plan ${d.PlanId} (${d.Method}${d.Exact ? ', optimal' : ', heuristic: not proven optimal'}, ${d.PlanningMs.toFixed(1)} ms)`;
  const after = d.Applied
    ? d.Moves.length === 0
      ? ['nothing to rewrite']
      : [`module files rewritten on ${d.RewrittenHosts.join(', ')}.`, 'The running agents keep their old default primaries until they restart (docs/balance.md, Applying): restart both, one right after the other.']
    : d.Moves.length === 0
      ? []
      : [`to apply on both hosts: \`vmmirror balance --apply\` (both agents running), else \`vmmirror balance --apply --local-only --expect ${d.PlanId}\` on ${d.Hosts.map((h) => h.Name).join(' and on ')}`];
  return [`cluster ${d.Cluster}, planned on ${d.Host}: ${how}`, 'hosts:', ...hosts, 'moves:', ...moves, ...(fixed.length > 0 ? ['not movable:', ...fixed] : []), ...after].join('\n');
}

/** Plans (and with --apply rewrites) the default primaries (definitions/balance.ts declares the command). */
export async function runBalance(opts: BalanceOptions): Promise<CommandOutcome> {
  if (opts.localOnly === true && opts.apply !== true) throw new UsageError('--local-only goes with --apply');
  if (opts.expect !== undefined && opts.apply !== true) throw new UsageError('--expect goes with --apply');
  if (opts.localOnly === true && opts.expect === undefined) throw new UsageError('--apply --local-only needs --expect <PlanId> (from `vmmirror balance` on either host), so both hosts write the same plan');
  const config = await loadConfig(opts.dir);
  const { planFromConfig, rewritesFor } = require('../../balance/from-config') as typeof import('../../balance/from-config');
  const { agentHypervisor } = require('../../agent/hypervisor') as typeof import('../../agent/hypervisor');
  let hv: ReturnType<typeof agentHypervisor> | null = null;
  const p = await (async () => {
    try {
      return await planFromConfig(config, () => (hv = agentHypervisor(config)));
    } finally {
      // The Hyper-V driver holds a PowerShell session; nothing else needs it after planning.
      await (hv as { close?: () => Promise<void> } | null)?.close?.();
    }
  })();
  let rewritten: string[] = [];
  if (opts.apply === true) {
    if (opts.expect !== undefined && opts.expect !== p.planId) {
      throw new VmmirrorError('BALANCE_PLAN_CHANGED', `this host's plan is ${p.planId}, not ${opts.expect}: its module files or loads differ from where that plan was made; nothing was changed`, { details: { PlanId: p.planId, Expected: opts.expect } });
    }
    const { applyRewrites } = require('../../balance/apply') as typeof import('../../balance/apply');
    // Both hosts: the peer's files through the local agent (which relays over the peer link), first.
    let peer: import('../../balance/apply').PeerModuleFiles | null = null;
    if (opts.localOnly !== true) {
      const { agentPeerModuleFiles } = require('../../balance/peer-client') as typeof import('../../balance/peer-client');
      const { controlEndpoint } = require('../../agent/control/endpoint') as typeof import('../../agent/control/endpoint');
      peer = agentPeerModuleFiles({ ...(await controlEndpoint(opts.dir)), timeoutMs: PEER_TIMEOUT_MS }, config.peer.Name);
    }
    try {
      rewritten = p.moves.length === 0 ? [] : await applyRewrites({ planId: p.planId, moves: p.moves, rewrites: rewritesFor(p), self: config.self.Name, peer });
    } catch (err) {
      if (err instanceof VmmirrorError && err.code === 'BALANCE_PEER_UNAVAILABLE') {
        throw new VmmirrorError(err.code, `${err.message}. With the agents down, run \`vmmirror balance --apply --local-only --expect ${p.planId}\` on each host`, { cause: err, details: { ...err.details, PlanId: p.planId } });
      }
      throw err;
    }
  }
  const byName = new Map(p.plan.assignments.map((a) => [a.name, a]));
  const doc = emit(BalanceDocument, {
    Cluster: config.clusterName,
    Host: config.self.Name,
    PlanId: p.planId,
    Method: p.plan.method,
    Exact: p.plan.exact,
    PlanningMs: Math.round(p.planningMs * 1000) / 1000,
    Hosts: p.plan.hosts.map((h) => ({ Name: h.name, CurrentLoad: h.currentLoad, ProposedLoad: h.proposedLoad })),
    Modules: p.modules.map((f) => {
      const a = byName.get(f.module.name);
      return {
        Name: f.module.name,
        Load: f.load.load,
        LoadSource: f.load.source,
        MemoryBytes: f.load.memoryBytes,
        ProcessorCount: f.load.processorCount,
        CurrentPrimary: a?.current ?? f.module.defaultPrimary,
        ProposedPrimary: a?.proposed ?? f.module.defaultPrimary,
        Pin: f.module.pin ?? null,
        AntiAffinityGroup: f.module.antiAffinityGroup ?? null,
        Movable: f.immovable === null,
        ImmovableReason: f.immovable,
      };
    }),
    Moves: p.moves.map((m) => ({ Module: m.module, From: m.from, To: m.to })),
    Applied: opts.apply === true,
    RewrittenHosts: rewritten,
  });
  return { json: doc, text: text(doc) };
}
