import type { CommandRegistrar } from '../command';
import { withExamples } from '../help';

// `vmmirror selftest hyperv`: declared here (light); the Hyper-V driver loads only when it runs.
export const registerSelftest: CommandRegistrar = (program, run) => {
  const selftest = program.command('selftest').description('acceptance checks of a platform driver on this host');
  withExamples(selftest, [['vmmirror selftest hyperv --vm lab1', 'check the Hyper-V driver on a lab VM']]);
  const hyperv = selftest
    .command('hyperv')
    .description('freeze, change, changed ranges, release, export, register checks and cleanup on one lab VM, through the real scripts')
    .requiredOption('--vm <name>', 'the lab VM (exact name; must be unique on this host)')
    .option('--work-dir <dir>', 'scratch folder for the exported configuration', '.')
    .option('--timeout-ms <ms>', 'timeout of each driver call', '300000')
    .option('--change-wait-ms <ms>', 'how long to wait for guest writes between the two views', '15000')
    .option('--change-signal <file>', 'end the wait as soon as this file exists (create it once the guest has written)')
    .option('--powershell <exe>', 'PowerShell to run the scripts with (default powershell.exe, Windows PowerShell 5.1)')
    .option('--import-module <path...>', 'modules to import into the session first (tests: the mock Hyper-V module)')
    .action((opts: import('../commands/selftest').SelftestHypervOptions) =>
      run(() => (require('../commands/selftest') as typeof import('../commands/selftest')).runSelftestHyperv(opts)),
    );
  withExamples(hyperv, [
    ['vmmirror selftest hyperv --vm lab1', 'every driver step on lab VM lab1 with Windows PowerShell 5.1 (exit 1 when a step fails)'],
    ['vmmirror selftest hyperv --vm lab1 --change-signal C:\\temp\\written --json', 'end the wait for guest writes as soon as the file exists; one JSON report'],
  ]);
};
