import type { Command } from 'commander';

// `--help` of every command ends with worked examples (what an administrator types most often).

/** Appends an "Examples:" block to a command's help; each entry is [command line, what it does]. */
export function withExamples(command: Command, examples: ReadonlyArray<readonly [string, string]>): Command {
  const lines = examples.map(([line, what]) => `  # ${what}\n  ${line}`);
  return command.addHelpText('after', `\nExamples:\n${lines.join('\n\n')}\n`);
}

/** Help text of the --dir option shared by the commands that read the configuration. */
export const DIR_OPTION_HELP = 'config directory (default: VMMIRROR_CONFIG_DIR or the platform default)';
