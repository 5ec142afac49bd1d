import type { CommandRegistrar } from '../command';
import { DIR_OPTION_HELP, withExamples } from '../help';

// `vmmirror agent`: declared here (light); TLS, cron and the drivers load only when it runs.
export const registerAgent: CommandRegistrar = (program, run) => {
  const command = program
    .command('agent')
    .description('run the host agent: peer link, heartbeats, replication schedules, local control API')
    .option('--dir <dir>', DIR_OPTION_HELP)
    .option('--grace <ms>', 'on SIGTERM, how long an in-flight cycle may finish before it is aborted', '10000')
    .action((opts: import('../commands/agent').AgentOptions) => run(() => (require('../commands/agent') as typeof import('../commands/agent')).runAgent(opts)));
  withExamples(command, [
    ['vmmirror agent', 'run in the foreground (the scheduled task starts it this way at boot)'],
    ['vmmirror agent --dir C:\\vmmirror --grace 30000', 'another config folder; let a running cycle finish for up to 30 s on stop'],
  ]);
};
