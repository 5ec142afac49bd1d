import { expect } from 'chai';
import { hasCode, type ErrorCode } from '../../../src/errors';
import { seeded } from '../../helpers/seed';
import type { FixtureOptions, VmSpec } from '../contract';

// Shared pieces of the driver contract cases: range arithmetic, error checks, the hosts and VMs used.

export type Range = { offset: number; length: number };
export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
export const T = { timeoutMs: 20_000 };
export const UNKNOWN_ID = '0badc0de-0000-4000-8000-000000000000';

/** Sorted, merged copy of ranges (adjacent ranges joined). */
export function normalize(ranges: Range[]): Range[] {
  const sorted = ranges.filter((r) => r.length > 0).map((r) => ({ ...r })).sort((a, b) => a.offset - b.offset);
  const out: Range[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.offset <= last.offset + last.length) {
      last.length = Math.max(last.length, r.offset + r.length - last.offset);
    } else out.push(r);
  }
  return out;
}

export function roundOut(ranges: Range[], g: number): Range[] {
  return normalize(ranges.map((r) => {
    const start = Math.floor(r.offset / g) * g;
    const end = Math.ceil((r.offset + r.length) / g) * g;
    return { offset: start, length: end - start };
  }));
}

/** True when every byte of `inner` lies inside `outer`. */
export function covers(outer: Range[], inner: Range[]): boolean {
  const o = normalize(outer);
  return normalize(inner).every((r) => o.some((x) => x.offset <= r.offset && r.offset + r.length <= x.offset + x.length));
}

/** Asserts `reported` covers `written` and exceeds it only by rounding to the granularity. */
export function expectRanges(reported: Range[], written: Range[], granularity: number): void {
  expect(covers(reported, written), `reported ${JSON.stringify(normalize(reported))} must cover written ${JSON.stringify(normalize(written))}`).to.equal(true);
  expect(covers(roundOut(written, granularity), reported), `reported ${JSON.stringify(normalize(reported))} exceeds written ${JSON.stringify(normalize(written))} rounded to ${granularity}`).to.equal(true);
}

export async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    expect(hasCode(err, code), `expected ${code}, got ${String((err as { code?: string }).code)}: ${String(err)}`).to.equal(true);
    return err;
  }
  expect.fail(`expected ${code}, but the call succeeded`);
}

/** Seeded, non-overlapping-or-not writes inside [0, size), 512-aligned like a guest's sectors. */
export function randomWrites(label: string, count: number, sizeBytes: number): Array<Range & { pattern: number }> {
  const r = seeded(label);
  const sectors = sizeBytes / 512;
  return Array.from({ length: count }, () => {
    const len = r.int(1, 16) * 512;
    const offset = r.int(0, sectors - len / 512) * 512;
    return { offset, length: len, pattern: r.int(1, 255) };
  });
}

/** Host A: two switches (one with quotes in its name), plenty of memory. */
export const hostA: FixtureOptions = { switchNames: ['LAN', 'DMZ ‘prod’ "x"'], hostMemoryBytes: 16 * GiB };
/** Host B: only LAN, little memory. */
export const hostB: FixtureOptions = { switchNames: ['LAN'], hostMemoryBytes: 4 * GiB };

/** A small VM spec (one 4 MiB fixed disk) with overrides. */
export function vmSpec(name: string, extra: Partial<VmSpec> = {}): VmSpec {
  return { name, memoryBytes: 512 * MiB, processorCount: 2, disks: [{ sizeBytes: 4 * MiB, subformat: 'fixed' }], ...extra };
}
