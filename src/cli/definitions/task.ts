import type { CommandRegistrar } from '../command';
import { DIR_OPTION_HELP, withExamples } from '../help';

// `vmmirror install-task` / `uninstall-task`: declared here (light); PowerShell runs only when they do.
const POWERSHELL_HELP = 'PowerShell to run the script with (default powershell.exe, Windows PowerShell 5.1)';
const IMPORT_HELP = 'modules to import into the session first (tests: the mock ScheduledTasks module)';

export const registerTask: CommandRegistrar = (program, run) => {
  const install = program
    .command('install-task')
    .description('register the scheduled tasks that start the agent and the guard at boot as SYSTEM and restart them when they stop')
    .option('--dir <dir>', DIR_OPTION_HELP)
    .option('--what-if', 'print the definitions it would register and change nothing')
    .option('--powershell <exe>', POWERSHELL_HELP)
    .option('--import-module <path...>', IMPORT_HELP)
    .action((opts: import('../commands/task').InstallTaskOptions) => run(() => (require('../commands/task') as typeof import('../commands/task')).runInstallTask(opts)));
  withExamples(install, [
    ['vmmirror install-task', 'register vmmirror-agent and vmmirror-guard (\\vmmirror\\) for the default config folder; run it again after an upgrade'],
    ['vmmirror install-task --dir D:\\vmmirror --what-if --json', 'show the definitions it would register, change nothing'],
  ]);
  const uninstall = program
    .command('uninstall-task')
    .description('remove the agent and guard scheduled tasks (processes that run keep running until stopped or reboot)')
    .option('--what-if', 'say what it would remove and change nothing')
    .option('--powershell <exe>', POWERSHELL_HELP)
    .option('--import-module <path...>', IMPORT_HELP)
    .action((opts: import('../commands/task').UninstallTaskOptions) => run(() => (require('../commands/task') as typeof import('../commands/task')).runUninstallTask(opts)));
  withExamples(uninstall, [['vmmirror uninstall-task --json', 'remove both tasks; the reply says which existed and whether they ran']]);
};
