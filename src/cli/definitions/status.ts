import type { CommandRegistrar } from '../command';
import { DIR_OPTION_HELP, withExamples } from '../help';

// `vmmirror status`: declared here (light); the control client loads only when it runs.
export const registerStatus: CommandRegistrar = (program, run) => {
  const command = program
    .command('status')
    .description('show hosts and modules as the local agent sees them')
    .option('--dir <dir>', DIR_OPTION_HELP)
    .action((opts: import('../commands/status').StatusOptions) => run(() => (require('../commands/status') as typeof import('../commands/status')).runStatus(opts)));
  withExamples(command, [
    ['vmmirror status', 'hosts and modules as the local agent sees them (AGENT_UNREACHABLE when it is not running)'],
    ['vmmirror status --json | ConvertFrom-Json', 'from PowerShell: Hosts and Modules as objects'],
  ]);
};
