import type { CommandRegistrar } from '../command';
import { withExamples } from '../help';

// `vmmirror demo`: declared here (light); the lab, agents' client and simulated hypervisor load
// only when it runs (docs/demo.md).
export const registerDemo: CommandRegistrar = (program, run) => {
  const command = program
    .command('demo')
    .description('the whole story in about a minute on this machine, no Hyper-V: a simulated two-host cluster; kill a host, its VMs start on the other; resync, failback, a planned failover; every copy verified; all removed after')
    .option('--vms <n>', 'simulated VMs, spread over both hosts by balance (default 4, 2 to 16)')
    .option('--keep', 'keep the lab folder at the end (stopped), to look at its logs or run it again')
    .option('--seed <n>', "seeds the guests' writers (default random, printed)")
    .action((opts: import('../commands/demo').DemoCliOptions) => run(() => (require('../commands/demo') as typeof import('../commands/demo')).runDemoCommand(opts)));
  withExamples(command, [
    ['vmmirror demo', '(from a clone: npm run demo) watch a failover, a resync, a failback and a planned move (the live view is on stderr)'],
    ['vmmirror demo --json --vms 2 | ConvertFrom-Json', 'the figures as one JSON document (per VM: kill-to-running, writes lost, resync bytes, downtimes, verification)'],
  ]);
};
