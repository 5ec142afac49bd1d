import type { CommandRegistrar } from '../command';
import { DIR_OPTION_HELP, withExamples } from '../help';

// `vmmirror failover`: declared here (light); the control client loads only when it runs.
export const registerFailover: CommandRegistrar = (program, run) => {
  const command = program
    .command('failover')
    .description('move a module (or a VM, by its exact name) to the peer of the host that runs it by a planned switchover: stop, final cycle, start there; zero data loss')
    .argument('<module|vm>', 'module name, or the exact name of its VM')
    .option('--to <host>', 'the host it must end on (refused unless it is the peer of the host that runs it)')
    .option('--what-if', 'show the plan (from, to, each check and its result); change nothing')
    .option('--dir <dir>', DIR_OPTION_HELP)
    .option('--timeout <s>', 'give up waiting after this many seconds', '3600')
    .action((target: string, opts: import('../commands/failover').SwitchoverCliOptions) =>
      run(() => (require('../commands/failover') as typeof import('../commands/failover')).runFailover(target, opts)),
    );
  withExamples(command, [
    ['vmmirror failover web1 --what-if', 'the plan: from, to, and whether each check passes; nothing moves'],
    ['vmmirror failover WEB1 --to hvb --json', 'move the VM named WEB1 to hvb; one JSON document with the step timings and the downtime'],
  ]);
};
