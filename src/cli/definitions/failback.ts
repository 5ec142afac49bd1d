import type { CommandRegistrar } from '../command';
import { DIR_OPTION_HELP, withExamples } from '../help';

// `vmmirror failback`: declared here (light); the control client loads only when it runs.
export const registerFailback: CommandRegistrar = (program, run) => {
  const command = program
    .command('failback')
    .description('move a module back to its default primary now by a planned switchover (the way home for Failback: manual)')
    .argument('<module>', 'module name')
    .option('--what-if', 'show the plan (from, to, each check and its result); change nothing')
    .option('--dir <dir>', DIR_OPTION_HELP)
    .option('--timeout <s>', 'give up waiting after this many seconds', '3600')
    .action((module: string, opts: import('../commands/failover').SwitchoverCliOptions) =>
      run(() => (require('../commands/failback') as typeof import('../commands/failback')).runFailback(module, opts)),
    );
  withExamples(command, [
    ['vmmirror failback db1 --what-if', 'is db1 ready to go home? each check and its result'],
    ['vmmirror failback db1 --json | ConvertFrom-Json', 'from PowerShell: Result.DowntimeMs, Result.FinalDeltaBytes'],
  ]);
};
