import type { CommandRegistrar } from '../command';
import { DIR_OPTION_HELP, withExamples } from '../help';

// `vmmirror sync`: declared here (light); the control client loads only when it runs.
export const registerSync: CommandRegistrar = (program, run) => {
  const command = program
    .command('sync')
    .description('replicate a module now (on its primary) and wait for the result')
    .argument('<module>', 'module name')
    .option('--dir <dir>', DIR_OPTION_HELP)
    .option('--timeout <s>', 'give up waiting after this many seconds', '3600')
    .action((module: string, opts: import('../commands/sync').SyncOptions) =>
      run(() => (require('../commands/sync') as typeof import('../commands/sync')).runSync(module, opts)),
    );
  withExamples(command, [
    ['vmmirror sync web1', 'run a cycle of module web1 now and wait for its report'],
    ['vmmirror sync web1 --timeout 600 --json', 'give up after 10 minutes; one JSON document'],
  ]);
};
