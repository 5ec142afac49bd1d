import { expect } from 'chai';
import type { ClusterUnderTest } from './cluster';
import type { Handover } from './history';
import { describe as describeSample } from './sampler';

// What every scenario asserts (C1: no moment with a VM on both hosts; no acknowledged write lost)
// and the figures it reports: one summary line on stderr and a JSON file for the closing note.

export function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function worst(xs: number[]): number | null {
  return xs.length === 0 ? null : Math.max(...xs);
}

/** C1 over the whole timeline so far, with the sampler's own resolution next to it. */
export function expectNeverOnBoth(c: ClusterUnderTest): void {
  const overlaps = c.sampler.overlaps();
  const first = overlaps[0];
  const at = first === undefined ? '' : `: first at ${first.at.toFixed(0)} ms, ${first.vmId} on ${first.hosts.join('+')}; timeline around it: ${c.sampler.timeline.filter((s) => Math.abs(s.at - first.at) < 500).map(describeSample).join(' | ')}`;
  expect(overlaps.length, `samples with a VM on both hosts${at}`).to.equal(0);
  // A stalled sampler could miss an overlap: every gap stays well under the peer-loss timeout.
  expect(c.sampler.maxGapMs(), 'longest gap between two samples (ms)').to.be.below(1000);
}

/** No write the new runner's predecessor had committed (its peer acknowledged it) is missing where the VM went on. */
export function expectNoAcknowledgedWriteLost(vm: string, hs: Handover[]): void {
  for (const h of hs) {
    expect(h.startedFrom, `${vm}: ${h.to} started from write ${h.startedFrom}, but ${h.from} had an acknowledged generation through write ${h.acknowledgedSeq}`).to.be.at.least(h.acknowledgedSeq);
  }
}

export interface ScenarioFigures {
  killToRunningMs?: number[];
  writesLost?: number[];
  writesLostSeconds?: number[];
  resyncBytes?: Array<{ module: string; bytes: number | null; diskBytes: number }>;
  failbackDowntimeMs?: number[];
  [more: string]: unknown;
}

/** One line on stderr and the JSON file; returns the file's path. */
export async function report(c: ClusterUnderTest, name: string, f: ScenarioFigures): Promise<string> {
  const round = (x: number | null): string => (x === null ? '-' : x.toFixed(0));
  const parts = [`scenario ${name}`, `seed ${c.lab.Seed}`, `moments on both ${c.sampler.momentsOnBoth()}`, `max sample gap ${round(c.sampler.maxGapMs())} ms`];
  if (f.killToRunningMs !== undefined) parts.push(`kill-to-running median ${round(median(f.killToRunningMs))} ms worst ${round(worst(f.killToRunningMs))} ms (n=${f.killToRunningMs.length})`);
  if (f.writesLost !== undefined) parts.push(`writes lost ${f.writesLost.join('/')} (${(f.writesLostSeconds ?? []).map((s) => s.toFixed(2)).join('/')} s of guest writes)`);
  if (f.resyncBytes !== undefined) parts.push(`resync ${f.resyncBytes.map((r) => `${r.module} ${r.bytes ?? '?'} of ${r.diskBytes} B`).join(', ')}`);
  if (f.failbackDowntimeMs !== undefined) parts.push(`failback downtime median ${round(median(f.failbackDowntimeMs))} ms worst ${round(worst(f.failbackDowntimeMs))} ms`);
  const path = await c.saveFigures(name, { momentsOnBoth: c.sampler.momentsOnBoth(), maxSampleGapMs: c.sampler.maxGapMs(), ...f });
  process.stderr.write(`      FIGURES ${parts.join('; ')}; ${path}\n`);
  return path;
}
