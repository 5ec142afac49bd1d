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
import { registerLab } from './lab';
import { registerBalance } from './balance';
import { registerTask } from './task';
import { registerFailover } from './failover';
import { registerFailback } from './failback';
import { registerDrain } from './drain';
import { registerResume } from './resume';
import { registerDemo } from './demo';

// Every CLI command, in the order `vmmirror --help` lists them. These files only declare commands
// (commander definitions and help); each action require()s its implementation in ../commands/, so
// `vmmirror --help` or a failing `vmmirror status` never loads the engine, drivers or zod schemas
// (docs/performance.md, CLI start-up; test/cli/startup.test.ts guards it).
export const registrars: CommandRegistrar[] = [registerReplicate, registerVerify, registerReplica, registerInit, registerConfig, registerAgent, registerGuard, registerStatus, registerSync, registerFailover, registerFailback, registerDrain, registerResume, registerSelftest, registerWitness, registerLab, registerBalance, registerTask, registerDemo];
