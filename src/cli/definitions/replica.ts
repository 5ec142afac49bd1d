import type { CommandRegistrar } from '../command';
import { withExamples } from '../help';

// `vmmirror replica reset`: declared here (light); the replica code loads only when it runs.
export const registerReplica: CommandRegistrar = (program, run) => {
  const replica = program.command('replica').description('maintain a replica folder');
  withExamples(replica, [['vmmirror replica reset E:\\Replica\\web1', "discard a damaged replica folder's state and rehash its files"]]);
  const reset = replica
    .command('reset')
    .description("discard vmmirror's state in a replica folder (state, journal, manifests) and rehash its files; the next replicate sends only what differs")
    .argument('<dir>', 'replica folder (as given to replicate --to)')
    .option('--block-size <bytes>', 'block size of the rebuilt manifests (default: the old one when readable, else 64K)')
    .option('--json', 'print one JSON document on stdout')
    .action((dir: string, opts: import('../commands/replica').ReplicaResetOptions) =>
      run(() => (require('../commands/replica') as typeof import('../commands/replica')).runReplicaReset(dir, opts)),
    );
  withExamples(reset, [
    ['vmmirror replica reset E:\\Replica\\web1', 'after REPLICA_INVALID: keep the replica files, rebuild their manifests'],
    ['vmmirror replica reset E:\\Replica\\web1 --block-size 1M --json', 'rebuild with 1 MiB blocks; one JSON document'],
  ]);
};
