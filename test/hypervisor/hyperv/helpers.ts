import { expect } from 'chai';
import { join } from 'node:path';
import { z } from 'zod';
import { hasCode, type ErrorCode } from '../../../src/errors';
import type { MockHost } from './mock-fixture';

// Shared by the Hyper-V driver's tests on the mock.

export const MiB = 1024 * 1024;
export const T = { timeoutMs: 20_000 };

/** Awaits `p`, expects a vmmirror error with `code`, and returns its details. */
export async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    expect(hasCode(err, code), `expected ${code}, got ${String(err)}`).to.equal(true);
    return (err as { details: Record<string, unknown> }).details;
  }
  return expect.fail(`expected ${code}, but the call succeeded`);
}

/** The part of the mock's state the tests look at. */
export const MockState = z.object({
  Vms: z.array(z.object({ Id: z.string(), ReferencePoints: z.array(z.unknown()).nullable().optional() })),
});

/** A VM on the mock host with one 4 MiB dynamic disk on switch LAN (override any field). */
export async function newVm(h: MockHost, name: string, extra: Record<string, unknown> = {}): Promise<string> {
  const n = name.replace(/[^a-z0-9]/gi, '_');
  return h.createVmRaw({
    Name: name,
    Disks: [{ Path: join(h.workDir, `${n}-${Date.now()}.vhdx`), SizeBytes: 4 * MiB, Subformat: 'Dynamic' }],
    Adapters: [{ SwitchName: 'LAN' }],
    ...extra,
  });
}
