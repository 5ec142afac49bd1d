import type { CommandRegistrar } from '../command';
import { DIR_OPTION_HELP, withExamples } from '../help';

// `vmmirror resume <host>`: declared here (light); the control client loads only when it runs.
export const registerResume: CommandRegistrar = (program, run) => {
  const command = program
    .command('resume')
    .description('end a host\'s maintenance (vmmirror drain): VMs may start and be taken over there again, and failback brings its default-primary VMs home')
    .argument('<host>', 'the host to resume, as cluster.json names it (this host or its peer)')
    .option('--dir <dir>', DIR_OPTION_HELP)
    .option('--timeout <s>', 'give up waiting after this many seconds', '600')
    .action((host: string, opts: import('../commands/drain').MaintenanceCliOptions) =>
      run(() => (require('../commands/resume') as typeof import('../commands/resume')).runResume(host, opts)),
    );
  withExamples(command, [['vmmirror resume hva --json', 'hva takes VMs again; Failback: auto modules come home after FailbackStableSeconds']]);
};
