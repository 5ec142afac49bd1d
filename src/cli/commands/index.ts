import type { CommandRegistrar } from '../command';

// Every CLI command, in the order `vmmirror --help` lists them.
export const registrars: CommandRegistrar[] = [];
