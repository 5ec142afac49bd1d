import { UsageError } from '../../errors';
import type { CommandRegistrar } from '../command';
import type { WitnessPin } from '../commands/witness';
import { withExamples } from '../help';

// `vmmirror witness init|run`: declared here (light); the lease server loads only when it runs.

// An option parser (commander calls it while parsing), so it lives with the declaration.
function parsePin(v: string, acc: WitnessPin[] = []): WitnessPin[] {
  const i = v.indexOf('=');
  if (i <= 0) throw new UsageError(`--pin must be <host-name>=<fingerprint>, got ${JSON.stringify(v)}`);
  return [...acc, { Name: v.slice(0, i), CertificateFingerprint: v.slice(i + 1) }];
}

export const registerWitness: CommandRegistrar = (program, run) => {
  const witness = program.command('witness').description('the third vote: a small lease server for a third machine');
  withExamples(witness, [['vmmirror witness init --dir /srv/witness --address 0.0.0.0', 'set up a witness on a third machine']]);
  const init = witness
    .command('init')
    .description("create the witness's key pair, certificate and witness.json; prints the fingerprint for cluster.json's Witness entry")
    .requiredOption('--dir <dir>', 'the witness directory')
    .requiredOption('--address <addr>', 'address to listen on (0.0.0.0 for all)')
    .option('--port <n>', 'port (default 7422)')
    .option('--pin <name=fingerprint>', "a host to accept (repeat for both; else fill in witness.json's Hosts)", parsePin)
    .option('--force', 'replace an existing identity (both hosts must then pin the new fingerprint)')
    .action((opts: import('../commands/witness').WitnessInitOptions) =>
      run(() => (require('../commands/witness') as typeof import('../commands/witness')).runWitnessInit(opts)),
    );
  withExamples(init, [
    ['vmmirror witness init --dir /srv/witness --address 0.0.0.0 --pin hv1=<fingerprint> --pin hv2=<fingerprint>', 'listen on every address and accept the two hosts'],
  ]);
  const runCommand = witness
    .command('run')
    .description('serve leases and epoch claims to the two pinned hosts until SIGTERM/SIGINT')
    .requiredOption('--dir <dir>', 'the witness directory')
    .action((opts: import('../commands/witness').WitnessRunOptions) =>
      run(() => (require('../commands/witness') as typeof import('../commands/witness')).runWitnessRun(opts)),
    );
  withExamples(runCommand, [['vmmirror witness run --dir /srv/witness', 'serve until stopped (run it as a service on the third machine)']]);
};
