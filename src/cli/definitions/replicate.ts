import type { CommandRegistrar } from '../command';
import { withExamples } from '../help';

// `vmmirror replicate`: declared here (light); the engine loads only when the command runs.
export const registerReplicate: CommandRegistrar = (program, run) => {
  const command = program
    .command('replicate')
    .description('replicate files into a replica folder (first run seeds, later runs send only changed blocks)')
    .argument('<source...>', 'files to replicate (VHDX files are read VHDX-aware; others raw)')
    .requiredOption('--to <dir>', 'replica folder: the replica of each source is <dir>/<its file name>')
    .option('--block-size <bytes>', 'block size of a new replica (e.g. 64K); an existing replica keeps its own')
    .option('--mode <mode>', 'how to read sources: auto, vhdx or raw', 'auto')
    .option('--rehash', 'first rebuild the replica\'s manifests from its files (after something wrote to the replica)')
    .option('--changed-ranges <file>', 'JSON [{Path, Ranges:[{Offset, Length}]}]: send only these (change-tracking mode)')
    .action((sources: string[], opts: import('../commands/replicate').ReplicateOptions) =>
      run(() => (require('../commands/replicate') as typeof import('../commands/replicate')).runReplicate(sources, opts)),
    );
  withExamples(command, [
    ['vmmirror replicate D:\\VMs\\web1.vhdx --to E:\\Replica\\web1', 'seed a replica folder (first run), later runs send only changed blocks'],
    ['vmmirror replicate web1.vhdx data.vhdx --to E:\\Replica\\web1 --block-size 1M', 'two disks, 1 MiB blocks for a new replica'],
    ['vmmirror replicate web1.vhdx --to E:\\Replica\\web1 --changed-ranges ranges.json --json', 'send only the ranges change tracking reported; one JSON document'],
  ]);
};
