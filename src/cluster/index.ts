export { step, initialSnapshot, type ModuleConfigView } from './step';
export { nextDeadline } from './deadline';
export { TRANSITIONS, isAllowed } from './transitions';
export { ModuleRecord, ModuleState, WaitReason } from './record';
export * from './types';
export * as lease from './lease';
export * as detector from './detector';
export * as witnessRules from './witness-rules';
