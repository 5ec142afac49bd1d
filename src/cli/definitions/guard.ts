import type { CommandRegistrar } from '../command';
import { DIR_OPTION_HELP, withExamples } from '../help';

// `vmmirror guard`: declared here (light); the drivers load only when it runs.
export const registerGuard: CommandRegistrar = (program, run) => {
  const command = program
    .command('guard')
    .description("turn this host's VMs off when the agent's lease runs out, whether or not the agent still runs")
    .option('--dir <dir>', DIR_OPTION_HELP)
    .action((opts: import('../commands/guard').GuardOptions) => run(() => (require('../commands/guard') as typeof import('../commands/guard')).runGuard(opts)));
  withExamples(command, [['vmmirror guard', 'run beside the agent (the scheduled task keeps both running)']]);
};
