import type { CommandRegistrar } from '../command';
import { registerConfig } from './config';
import { registerInit } from './init';

// Every CLI command, in the order `vmmirror --help` lists them.
export const registrars: CommandRegistrar[] = [registerInit, registerConfig];
