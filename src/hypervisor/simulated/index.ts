// The simulated hypervisor: a Hypervisor over a state folder, VMs as processes that write a
// verifiable pattern, and the tools to prove which writes a replica holds (docs/simulated-hypervisor.md).
export { createSimulatedHypervisor } from './driver';
export type { SimulatedHypervisor } from './driver';
export { createSimulatedHost, createSimulatedVm, crashSimulatedHost, simulatedVmPids } from './host';
export type { SimDiskSpec, SimVmSpec } from './host';
export { decodeDiskPattern, readWriteLog, sequenceAtView, verifyPatternPrefix, viewsAfterWrite } from './verify';
export type { LoggedWrite, PrefixReport, WriteHistory } from './verify';
export { PATTERN_UNIT, decodePatternUnit, encodePatternWrite } from './pattern';
export type { PatternUnit } from './pattern';
export type { SimHostConfig, SimWriter } from './schemas';
