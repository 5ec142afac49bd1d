import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLUSTER_FILE, type LoadedConfig, type ResolvedModule, fileName } from '../config';
import { ConfigError, fromNodeError } from '../errors';
import type { Hypervisor } from '../hypervisor/types';
import type { FileRewrite, Move } from './apply';
import { type ModuleLoad, moduleLoads } from './load';
import { planBalance } from './plan';
import { immovableReason, rewriteModuleText } from './rewrite';
import type { BalancePlan } from './types';

// This host's balancing plan: loads (Weight, or the VM on this host), pins, groups and the
// modules that cannot move (rewrite.ts), through the pure optimiser; plus the plan id both hosts
// compare and the module file rewrites that would carry it out.

export interface ModuleFacts {
  module: ResolvedModule;
  path: string;
  text: string;
  load: ModuleLoad;
  immovable: string | null;
}

export interface ConfigPlan {
  plan: BalancePlan;
  planId: string;
  modules: ModuleFacts[];
  moves: Move[];
  /** Planning time of the optimiser alone (ms). */
  planningMs: number;
}

async function readText(path: string): Promise<string> {
  return readFile(path, 'utf8').catch((e: unknown) => {
    throw fromNodeError(e, path);
  });
}

/**
 * The plan's identity: the hosts and, for each move, the module, from, to and the module file's
 * content (parsed, so formatting does not count). Two hosts with the same module files and loads
 * get the same id; `--expect` compares it before anything is written.
 */
function planDigest(config: LoadedConfig, moves: Move[], facts: ModuleFacts[]): string {
  const byName = new Map(facts.map((f) => [f.module.name, f]));
  const body = { Hosts: config.hosts.map((h) => h.Name), Moves: moves.map((m) => ({ Module: m.module, From: m.from, To: m.to, File: JSON.parse((byName.get(m.module) as ModuleFacts).text.replace(/^\uFEFF/, '')) as unknown })) };
  return createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 16);
}

export async function planFromConfig(config: LoadedConfig, hypervisor: () => Pick<Hypervisor, 'getVm' | 'findVmsByName'>): Promise<ConfigPlan> {
  const cluster = JSON.parse((await readText(join(config.dir, CLUSTER_FILE))).replace(/^\uFEFF/, '')) as { DataDirectory: string };
  const needsVm = config.modules.some((m) => m.weight === undefined);
  const loads = await moduleLoads(config.modules, needsVm ? hypervisor() : null);
  const facts: ModuleFacts[] = [];
  for (const [i, m] of config.modules.entries()) {
    const path = join(config.modulesDir, fileName(m.file));
    const text = await readText(path);
    const raw = JSON.parse(text.replace(/^\uFEFF/, '')) as { Disks?: unknown };
    facts.push({ module: m, path, text, load: loads[i], immovable: immovableReason(m, raw.Disks, cluster.DataDirectory) });
  }
  const same = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();
  for (const f of facts) {
    if (f.immovable !== null && f.module.pin !== undefined && !same(f.module.pin, f.module.defaultPrimary)) {
      throw new ConfigError('BALANCE_INFEASIBLE', `module ${f.module.name} is pinned to ${f.module.pin} but cannot move from ${f.module.defaultPrimary}: ${f.immovable}`, { details: { Module: f.module.name } });
    }
  }
  const started = process.hrtime.bigint();
  const plan = planBalance({
    hosts: [config.hosts[0].Name, config.hosts[1].Name],
    items: facts.map((f) => ({
      name: f.module.name,
      load: f.load.load,
      current: f.module.defaultPrimary,
      // A module that cannot move is pinned where it is (its Pin, if any, is that host: checked above).
      ...(f.module.pin !== undefined ? { pin: f.module.pin } : f.immovable !== null ? { pin: f.module.defaultPrimary } : {}),
      ...(f.module.antiAffinityGroup !== undefined ? { group: f.module.antiAffinityGroup } : {}),
    })),
  });
  const planningMs = Number(process.hrtime.bigint() - started) / 1e6;
  const moves = plan.moves.map((m) => ({ module: m.name, from: m.from, to: m.to }));
  return { plan, planId: planDigest(config, moves, facts), modules: facts, moves, planningMs };
}

/** The module file rewrites that carry out the plan's moves on this host. */
export function rewritesFor(p: ConfigPlan): FileRewrite[] {
  return p.moves.map((mv) => {
    const f = p.modules.find((x) => x.module.name === mv.module) as ModuleFacts;
    return { module: mv.module, path: f.path, before: f.text, after: rewriteModuleText(f.text, mv.to, f.module) };
  });
}
