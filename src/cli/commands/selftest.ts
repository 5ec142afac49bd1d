import { resolve } from 'node:path';
import { UsageError } from '../../errors';
import { HypervDriver } from '../../hypervisor/hyperv/driver';
import { runHypervSelftest, SelftestReport } from '../../hypervisor/hyperv/selftest';
import type { CommandRegistrar } from '../command';
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

export const registerSelftest: CommandRegistrar = (program, run) => {
  const selftest = program.command('selftest').description('acceptance checks of a platform driver on this host');
  selftest
    .command('hyperv')
    .description('freeze, change, changed ranges, release, export, register checks and cleanup on one lab VM, through the real scripts')
    .requiredOption('--vm <name>', 'the lab VM (exact name; must be unique on this host)')
    .option('--work-dir <dir>', 'scratch folder for the exported configuration', '.')
    .option('--timeout-ms <ms>', 'timeout of each driver call', '300000')
    .option('--change-wait-ms <ms>', 'how long to wait for guest writes between the two views', '15000')
    .option('--change-signal <file>', 'end the wait as soon as this file exists (create it once the guest has written)')
    .option('--powershell <exe>', 'PowerShell to run the scripts with (default powershell.exe, Windows PowerShell 5.1)')
    .option('--import-module <path...>', 'modules to import into the session first (tests: the mock Hyper-V module)')
    .action((opts: { vm: string; workDir: string; timeoutMs: string; changeWaitMs: string; changeSignal?: string; powershell?: string; importModule?: string[] }) =>
      run(async () => {
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
      }),
    );
};
