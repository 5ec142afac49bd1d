// The acceptance run an administrator starts on a lab Hyper-V host (`vmmirror selftest hyperv`):
// every driver operation vmmirror's cycle and failover use, on one VM, through the real scripts,
// each step timed and reported with the facts only a real host can confirm (identifier strings,
// consistency reached, RCT answers). Steps after a failure that need its result are skipped;
// cleanup (our reference points, leftover views, the export folder) always runs.
import { existsSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { HypervisorError, VmmirrorError } from '../../errors';
import type { DiskReference, VmInfo } from '../types';
import type { HypervDriver } from './driver';

const Fact = z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(z.string())]);

export const SelftestStep = z
  .object({
    Name: z.string(),
    Status: z.enum(['Passed', 'Failed', 'Skipped']),
    DurationMs: z.number().int().nonnegative(),
    Facts: z.record(z.string(), Fact),
    Error: z.object({ Code: z.string(), Message: z.string() }).nullable(),
  })
  .strict();
export type SelftestStep = z.infer<typeof SelftestStep>;

export const SelftestReport = z
  .object({
    Passed: z.boolean(),
    VmName: z.string(),
    VmId: z.string().nullable(),
    Host: z.string().nullable(),
    StartedAt: z.string().datetime(),
    DurationMs: z.number().int().nonnegative(),
    Steps: z.array(SelftestStep),
  })
  .strict();
export type SelftestReport = z.infer<typeof SelftestReport>;

export interface SelftestOptions {
  vmName: string;
  /** Scratch folder for the exported configuration (removed at the end). */
  workDir: string;
  timeoutMs: number;
  /** How long to wait for guest writes between the two views. */
  changeWaitMs: number;
  /** The wait ends early once this file exists (the operator, or a test, made its change). */
  changeSignalFile?: string;
}

type Facts = Record<string, z.infer<typeof Fact>>;

const READ_PROBE_BYTES = 1024 * 1024;

/** Reads the first MiB of a frozen read path: the file must be readable while the VM runs. */
async function probeRead(path: string): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const { bytesRead } = await fh.read(Buffer.alloc(READ_PROBE_BYTES), 0, READ_PROBE_BYTES, 0);
    return bytesRead;
  } finally {
    await fh.close();
  }
}

async function waitForChange(o: SelftestOptions): Promise<Facts> {
  const started = Date.now();
  while (Date.now() - started < o.changeWaitMs) {
    if (o.changeSignalFile !== undefined && existsSync(o.changeSignalFile)) return { WaitedMs: Date.now() - started, Signalled: true };
    await sleep(100);
  }
  return { WaitedMs: Date.now() - started, Signalled: false };
}

/** Runs the acceptance steps on one VM (by exact name) and returns the report; never throws for a failed step. */
export async function runHypervSelftest(hv: HypervDriver, o: SelftestOptions): Promise<SelftestReport> {
  const started = Date.now();
  const steps: SelftestStep[] = [];
  const T = { timeoutMs: o.timeoutMs };
  let failed = false;
  const step = async (name: string, fn: () => Promise<Facts>, always = false): Promise<boolean> => {
    if (failed && !always) {
      steps.push({ Name: name, Status: 'Skipped', DurationMs: 0, Facts: {}, Error: null });
      return false;
    }
    const t0 = Date.now();
    try {
      const facts = await fn();
      steps.push({ Name: name, Status: 'Passed', DurationMs: Date.now() - t0, Facts: facts, Error: null });
      return true;
    } catch (err) {
      failed = true;
      const code = err instanceof VmmirrorError ? err.code : 'INTERNAL';
      steps.push({ Name: name, Status: 'Failed', DurationMs: Date.now() - t0, Facts: {}, Error: { Code: code, Message: err instanceof Error ? err.message : String(err) } });
      return false;
    }
  };

  let hostName: string | null = null;
  let vm: VmInfo | null = null;
  let baseline: DiskReference[] = [];
  let latest: DiskReference[] = [];
  let configDir: string | null = null;
  const exportDir = join(o.workDir, 'selftest-export');

  await step('Host', async () => {
    const h = await hv.getHost();
    hostName = h.name;
    return { Name: h.name, MaxConfigurationVersion: h.maxConfigurationVersion, SwitchNames: h.switchNames };
  });
  await step('FindVm', async () => {
    vm = await hv.resolveVmByName(o.vmName);
    const problems = vm.disks.filter((d) => d.problem !== undefined).map((d) => `${d.path}: ${d.problem}`);
    if (problems.length > 0) throw new HypervisorError('VM_WRONG_STATE', `drives vmmirror cannot replicate: ${problems.join('; ')}`);
    return { VmId: vm.id, State: vm.state, ConfigurationVersion: vm.configurationVersion, Disks: vm.disks.map((d) => d.basePath) };
  });
  const id = (): string => (vm as VmInfo | null)?.id ?? '';
  await step('ReleaseLeftoverViews', async () => ({ Released: (await hv.releaseLeftoverViews(id(), T)).released }));
  await step('FreezeAndRead', async () => {
    const view = await hv.freeze(id(), T);
    let read = 0;
    try {
      for (const d of view.disks) read += await probeRead(d.readPath);
    } catch (err) {
      await view.release({ commit: false });
      throw err;
    }
    baseline = await view.release({ commit: true });
    return { ViewId: view.viewId, Consistency: view.consistency, ReadPaths: view.disks.map((d) => d.readPath), BytesRead: read, RctIds: baseline.map((r) => r.rctId) };
  });
  await step('Change', () => waitForChange(o));
  await step('ChangedRanges', async () => {
    const view = await hv.freeze(id(), T);
    let changes;
    try {
      changes = await hv.changedRanges(id(), view, baseline, T);
    } catch (err) {
      await view.release({ commit: false });
      throw err;
    }
    latest = await view.release({ commit: true });
    const bytes = changes.map((c) => c.ranges.reduce((n, r) => n + r.length, 0));
    return { Consistency: view.consistency, Ranges: changes.map((c) => String(c.ranges.length)), ChangedBytes: bytes.map(String), RctIds: latest.map((r) => r.rctId) };
  });
  await step('PruneOldReference', async () => {
    await hv.pruneReferences(id(), latest);
    return { Kept: latest.map((r) => r.rctId) };
  });
  await step('ExportConfig', async () => {
    const e = await hv.exportConfig(id(), exportDir, T);
    configDir = e.configDir;
    return { ConfigDir: e.configDir, Files: e.files };
  });
  await step('Readiness', async () => {
    const r = await hv.checkReadiness(configDir!, { memoryBytes: 0, timeoutMs: o.timeoutMs });
    return { CanStart: r.canStart, Issues: r.issues.map((i) => `${i.kind}: ${i.message}`) };
  });
  // In place registration keeps the id, so on one host the copy meets the VM itself: it must be
  // adopted with its own disks when Off (a running one is refused: a replica must be Off) and
  // refused with any other ones (a true import needs the peer).
  await step('RegisterFindsItself', async (): Promise<Facts> => {
    const own = (vm as VmInfo | null)!.disks.map((d) => d.path);
    try {
      const r = await hv.registerReplica(configDir!, own, T);
      if (r.id !== id()) throw new HypervisorError('HYPERVISOR_ERROR', `adopted VM ${r.id}, expected ${id()}`);
      return { Adopted: true, VmId: r.id, State: r.state };
    } catch (err) {
      if (err instanceof VmmirrorError && err.code === 'VM_WRONG_STATE') return { Adopted: false, Code: err.code, Message: err.message };
      throw err;
    }
  });
  await step('RegisterRefusesOtherDisks', async () => {
    const others = (vm as VmInfo | null)!.disks.map((_, i) => join(o.workDir, `selftest-not-a-copy-${i}.vhdx`));
    try {
      await hv.registerReplica(configDir!, others, T);
    } catch (err) {
      if (err instanceof VmmirrorError && err.code === 'VM_ALREADY_REGISTERED') return { Code: err.code };
      throw err;
    }
    throw new HypervisorError('HYPERVISOR_ERROR', 'registering other disks over the registered VM was not refused');
  });
  await step(
    'Cleanup',
    async () => {
      if (vm !== null) {
        await hv.pruneReferences(id(), []);
        await hv.releaseLeftoverViews(id(), T);
      }
      await rm(exportDir, { recursive: true, force: true });
      return { RemovedExport: exportDir };
    },
    true,
  );
  return SelftestReport.parse({
    Passed: steps.every((s) => s.Status === 'Passed'),
    VmName: o.vmName,
    VmId: (vm as VmInfo | null)?.id ?? null,
    Host: hostName,
    StartedAt: new Date(started).toISOString(),
    DurationMs: Date.now() - started,
    Steps: steps,
  });
}
