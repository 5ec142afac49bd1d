import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { initialSnapshot, step, type ClusterEvent, type ClusterSettings, type ClusterSnapshot, type Effect, type ModuleConfigView } from '../../src/cluster';
import type { ModuleRecord } from '../../src/cluster/record';
import { DEFAULT_LEASE_TIMINGS } from '../../src/cluster/lease';

// Scenario files (test/cluster/scenarios/*.json) list events and, after each, the effects the
// machine must ask for (exactly those, in order; each compared on the fields the file gives) and
// the module fields it must hold. Time is simulated: each step gives its monotonic `at`.

export interface Scenario {
  name: string;
  self: string;
  peer: string;
  settings?: Partial<ClusterSettings>;
  modules: Array<Partial<ModuleConfigView> & { name: string }>;
  records?: Record<string, Omit<ModuleRecord, 'Version' | 'Module'>>;
  vms?: Record<string, 'off' | 'running'>;
  lease?: ClusterSnapshot['lease'];
  /** The agent's freshness record (cold-start opt-in), per module. */
  freshness?: Record<string, { epoch: number; generation: number; behindMs: number }>;
  steps: Array<{ at: number; event: Record<string, unknown>; effects?: Array<Partial<Effect>>; modules?: Record<string, Record<string, unknown>>; note?: string }>;
}

export const BASE_SETTINGS: ClusterSettings = { ...DEFAULT_LEASE_TIMINGS, peerTimeoutMs: 5000, witness: true, failbackStableMs: 30000, retryMs: 5000 };

export const SCENARIO_DIR = join(__dirname, 'scenarios');

export function loadScenarios(): Scenario[] {
  return readdirSync(SCENARIO_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(SCENARIO_DIR, f), 'utf8')) as Scenario);
}

/** Runs a scenario, asserting after each step; returns every (from, to) state change seen. */
export function runScenario(sc: Scenario): Array<{ from: string; to: string }> {
  const records: Record<string, ModuleRecord> = {};
  for (const [name, r] of Object.entries(sc.records ?? {})) records[name] = { Version: 1, Module: name, ...r };
  let snap = initialSnapshot({
    self: sc.self,
    peerName: sc.peer,
    settings: { ...BASE_SETTINGS, ...sc.settings },
    now: 0,
    modules: sc.modules.map((m) => ({ defaultPrimary: sc.self, failback: 'auto', fenceMode: 'TurnOff', ...m })),
    records,
    vms: sc.vms ?? {},
    lease: sc.lease,
    freshness: sc.freshness,
  });
  const seen: Array<{ from: string; to: string }> = [];
  sc.steps.forEach((st, i) => {
    const where = `${sc.name}, step ${i} (at ${st.at}${st.note ? `: ${st.note}` : ''})`;
    const r = step(snap, { ...st.event, now: st.at } as ClusterEvent);
    snap = r.next;
    for (const t of r.transitions) seen.push({ from: t.from, to: t.to });
    const want = st.effects ?? [];
    expect(r.effects.length, `${where}: effects ${JSON.stringify(r.effects)}`).to.equal(want.length);
    want.forEach((w, j) => {
      const got = r.effects[j] as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(w)) expect(got[k], `${where}: effect ${j} (${JSON.stringify(got)}) field ${k}`).to.deep.equal(v);
    });
    for (const [name, fields] of Object.entries(st.modules ?? {})) {
      const m = snap.modules[name] as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(fields)) expect(m[k], `${where}: module ${name}.${k}`).to.deep.equal(v);
    }
  });
  return seen;
}
