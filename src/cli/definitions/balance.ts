import type { CommandRegistrar } from '../command';
import { DIR_OPTION_HELP, withExamples } from '../help';

// `vmmirror balance`: declared here (light); the optimiser and the drivers load only when it runs.
export const registerBalance: CommandRegistrar = (program, run) => {
  const command = program
    .command('balance')
    .description('plan default primaries that even out the two hosts\' load (--apply rewrites the module files)')
    .option('--dir <dir>', DIR_OPTION_HELP)
    .option('--apply', 'rewrite the module files on both hosts, the peer first through the agents (nothing changes if either cannot)')
    .option('--local-only', 'with --apply: rewrite this host\'s module files only; needs --expect, run it on both hosts')
    .option('--expect <planId>', 'with --apply: refuse unless this host\'s plan has this PlanId (from a plain `vmmirror balance`)')
    .action((opts: import('../commands/balance').BalanceOptions) => run(() => (require('../commands/balance') as typeof import('../commands/balance')).runBalance(opts)));
  withExamples(command, [
    ['vmmirror balance', 'the plan: each host\'s load now and after, the moves, and its PlanId; changes nothing'],
    ['vmmirror balance --apply', 'rewrite both hosts\' module files (the peer first, through the running agents)'],
    ['vmmirror balance --apply --local-only --expect 3f9c0a1b2c3d4e5f', 'agents down: on each host in turn, rewrite its module files, only if its plan is that one'],
    ['vmmirror balance --json | ConvertFrom-Json', 'from PowerShell: Hosts, Modules and Moves as objects'],
  ]);
};
