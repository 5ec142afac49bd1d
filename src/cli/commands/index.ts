import type { CommandRegistrar } from '../command';
import { registerReplicate } from './replicate';
import { registerVerify } from './verify';
import { registerAgent } from './agent';
import { registerGuard } from './guard';
import { registerConfig } from './config';
import { registerInit } from './init';
import { registerStatus } from './status';
import { registerSync } from './sync';
import { registerSelftest } from './selftest';
import { registerReplica } from './replica';
import { registerWitness } from './witness';

// Every CLI command, in the order `vmmirror --help` lists them.
export const registrars: CommandRegistrar[] = [registerReplicate, registerVerify, registerReplica, registerInit, registerConfig, registerAgent, registerGuard, registerStatus, registerSync, registerSelftest, registerWitness];
