import type { CommandRegistrar } from '../command';
import { withExamples } from '../help';

// `vmmirror verify`: declared here (light); the hashing code loads only when the command runs.
export const registerVerify: CommandRegistrar = (program, run) => {
  const command = program
    .command('verify')
    .description('compare sources with their replicas by hashing both (exit 0 equal, 1 differs)')
    .argument('<source...>', 'source files')
    .requiredOption('--replica <dir>', 'replica folder (as given to replicate --to)')
    .option('--mode <mode>', 'auto (VHDX live regions), vhdx or raw (every byte)', 'auto')
    .action((sources: string[], opts: import('../commands/verify').VerifyOptions) =>
      run(() => (require('../commands/verify') as typeof import('../commands/verify')).runVerify(sources, opts)),
    );
  withExamples(command, [
    ['vmmirror verify D:\\VMs\\web1.vhdx --replica E:\\Replica\\web1', 'check a replica against its (quiet) source; exit 1 when it differs'],
    ['vmmirror verify web1.vhdx --replica E:\\Replica\\web1 --mode raw --json', 'compare every byte, not only VHDX live regions; one JSON document'],
  ]);
};
