import type { CommandRegistrar } from '../command';
import { DIR_OPTION_HELP, withExamples } from '../help';

// `vmmirror init`: declared here (light); key generation and config writing load only when it runs.
export const registerInit: CommandRegistrar = (program, run) => {
  const command = program
    .command('init')
    .description("create this host's key pair, self-signed certificate and control token; write the config skeleton")
    .requiredOption('--host <name>', 'this host\'s name (as the cluster file will list it)')
    .requiredOption('--address <addr>', 'address the peer connects to')
    .option('--port <n>', 'peer-link port (default 7420)')
    .option('--dir <dir>', DIR_OPTION_HELP)
    .option('--force', 'replace an existing identity (the peer must pin the new fingerprint)')
    .action((opts: import('../commands/init').InitOptions) => run(() => (require('../commands/init') as typeof import('../commands/init')).runInit(opts)));
  withExamples(command, [
    ['vmmirror init --host hv1 --address 10.0.0.11', 'first step on each host: prints the certificate fingerprint for the peer'],
    ['vmmirror init --host hv1 --address 10.0.0.11 --port 7500 --dir C:\\vmmirror --json', 'another port and config folder; one JSON document'],
  ]);
};
