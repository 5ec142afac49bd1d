import type { Command } from 'commander';

/** What a command returns: main prints it (JSON or text) and sets the exit code. Nothing else prints to stdout. */
export interface CommandOutcome {
  /** The --json document: PascalCase keys, validated by the command's output schema. */
  json: unknown;
  /** Human-readable form, printed without --json. */
  text: string;
  /** Exit code for a successful run that still reports a condition (verify: 1 = differs). */
  exitCode?: number;
}

export interface GlobalOptions {
  json: boolean;
}

/** Each command file exports one of these; main wires them into commander. */
export type CommandRegistrar = (program: Command, run: (action: () => Promise<CommandOutcome>) => Promise<void>) => void;
