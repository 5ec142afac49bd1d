import { resolve } from 'node:path';
import { UsageError } from '../../errors';
import { HypervDriver } from '../../hypervisor/hyperv/driver';
import { runHypervSelftest, SelftestReport } from '../../hypervisor/hyperv/selftest';
import type { CommandOutcome } from '../command';
import { emit } from '../output';

// `vmmirror selftest hyperv --vm <name>`: the acceptance run for a lab Hyper-V host
// (docs/hyperv-driver.md). Exit 0 when every step passed, 1 when one failed (the report says which).

function positive(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive whole number of milliseconds, got ${JSON.stringify(text)}`);
  return n;
}

function reportText(r: SelftestReport): string {
  const lines = r.Steps.map((s) => `  ${s.Status.padEnd(7)} ${s.Name.padEnd(26)} ${String(s.DurationMs).padStart(6)} ms${s.Error ? `  ${s.Error.Code}: ${s.Error.Message}` : ''}`);
  return [`selftest hyperv on ${r.Host ?? '?'}, VM ${r.VmName} (${r.VmId ?? 'not found'}): ${r.Passed ? 'PASSED' : 'FAILED'}`, ...lines].join('\n');
}

export interface SelftestHypervOptions {
  vm: string;
  workDir: string;
  timeoutMs: string;
  changeWaitMs: string;
  changeSignal?: string;
  powershell?: string;
  importModule?: string[];
}

/** Runs the Hyper-V driver's acceptance steps (definitions/selftest.ts declares the command). */
export async function runSelftestHyperv(opts: SelftestHypervOptions): Promise<CommandOutcome> {
  const executable = opts.powershell ?? (process.platform === 'win32' ? 'powershell.exe' : undefined);
  if (executable === undefined) throw new UsageError('selftest hyperv needs --powershell off Windows');
  const timeoutMs = positive('--timeout-ms', opts.timeoutMs);
  const hv = new HypervDriver({ executable, importModules: (opts.importModule ?? []).map((p) => resolve(p)), defaultTimeoutMs: timeoutMs });
  try {
    const report = emit(
      SelftestReport,
      await runHypervSelftest(hv, {
        vmName: opts.vm,
        workDir: resolve(opts.workDir),
        timeoutMs,
        changeWaitMs: positive('--change-wait-ms', opts.changeWaitMs),
        ...(opts.changeSignal !== undefined ? { changeSignalFile: resolve(opts.changeSignal) } : {}),
      }),
    );
    return { json: report, text: reportText(report), exitCode: report.Passed ? 0 : 1 };
  } finally {
    await hv.close();
  }
}
