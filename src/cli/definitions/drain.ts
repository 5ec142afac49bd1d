import type { CommandRegistrar } from '../command';
import { DIR_OPTION_HELP, withExamples } from '../help';

// `vmmirror drain <host>`: declared here (light); the control client loads only when it runs.
export const registerDrain: CommandRegistrar = (program, run) => {
  const command = program
    .command('drain')
    .description('put a host in maintenance: every VM it runs moves to the peer, one at a time, by a planned switchover (zero loss); nothing starts, is taken over or fails back onto it until vmmirror resume')
    .argument('<host>', 'the host to drain, as cluster.json names it (this host or its peer)')
    .option('--what-if', 'show what would move and whether each move would be accepted; change nothing')
    .option('--dir <dir>', DIR_OPTION_HELP)
    .option('--timeout <s>', 'give up waiting after this many seconds', '36000')
    .action((host: string, opts: import('../commands/drain').MaintenanceCliOptions) =>
      run(() => (require('../commands/drain') as typeof import('../commands/drain')).runDrain(host, opts)),
    );
  withExamples(command, [
    ['vmmirror drain hva --what-if', 'which VMs would move off hva, each check passing or not; nothing moves'],
    ['vmmirror drain hva --json', 'move every VM off hva and keep it in maintenance; per module the downtime and the final delta'],
  ]);
};
