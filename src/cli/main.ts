import { Command, CommanderError } from 'commander';
import { UsageError, VmmirrorError, ExitCodes } from '../errors';
import type { CommandOutcome } from './command';
import { registrars } from './definitions';
import { errorDocument } from './error-document';
import { withExamples } from './help';

const VERSION = '0.1.0';

// The one place that prints results and decides the exit code; commands only return or throw.
export async function runCli(argv: string[]): Promise<number> {
  const wantsJson = argv.includes('--json');
  let outcome: CommandOutcome | undefined;
  const program = new Command('vmmirror')
    .description('Active-active Hyper-V replication without shared storage')
    .version(VERSION)
    .option('--json', 'print one JSON document on stdout (PowerShell: | ConvertFrom-Json)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s) })
    .showHelpAfterError(false);
  const run = async (action: () => Promise<CommandOutcome>): Promise<void> => {
    outcome = await action();
  };
  for (const register of registrars) register(program, run);
  for (const sub of program.commands) sub.exitOverride().option('--json', 'print one JSON document on stdout');
  withExamples(program, [
    ['vmmirror init --host hv1 --address 10.0.0.11', "first step on each host (then fill in cluster.json with the peer's fingerprint)"],
    ['vmmirror config validate', 'check the configuration before starting the agent'],
    ['vmmirror status --json | ConvertFrom-Json', 'from PowerShell: hosts and modules as objects'],
    ['vmmirror <command> --help', "a command's options and examples"],
  ]);

  try {
    await program.parseAsync(argv);
  } catch (err) {
    return reportError(err, wantsJson);
  }
  if (outcome === undefined) return ExitCodes.OK; // --help / --version
  if (wantsJson) process.stdout.write(`${JSON.stringify(outcome.json)}\n`);
  else if (outcome.text.length > 0) process.stdout.write(outcome.text.endsWith('\n') ? outcome.text : `${outcome.text}\n`);
  return outcome.exitCode ?? ExitCodes.OK;
}

function reportError(err: unknown, wantsJson: boolean): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0) return ExitCodes.OK;
    err = new UsageError(err.message.replace(/^error: /, ''));
  }
  const known = err instanceof VmmirrorError ? err : undefined;
  // The logger (pino) loads only for an unexpected error: expected ones are one line, no stack.
  if (known === undefined) (require('../log') as typeof import('../log')).rootLogger.error({ err }, 'unexpected error');
  const doc = errorDocument(err);
  if (wantsJson) process.stdout.write(`${JSON.stringify(doc)}\n`);
  else process.stderr.write(`vmmirror: ${doc.Error.Code}: ${doc.Error.Message}\n`);
  return known ? known.exitCode : ExitCodes.INTERNAL;
}

if (require.main === module) {
  void runCli(process.argv).then((code) => {
    process.exitCode = code;
  });
}
