import { z } from 'zod';

// The simulated hypervisor's on-disk records (one state folder per host). Every file is JSON,
// validated by these schemas on read and written atomically (tmp + fsync + rename).

const guid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'a lower-case GUID');
const mac = z.string().regex(/^[0-9A-F]{12}$/, '12 upper-case hex digits');

/** Host facts: `host.json` at the root of the state folder. */
export const SimHostConfig = z.object({
  name: z.string().min(1),
  totalMemoryBytes: z.number().int().positive(),
  logicalProcessorCount: z.number().int().positive(),
  switchNames: z.array(z.string()),
  maxConfigurationVersion: z.string().regex(/^\d+\.\d+$/),
});
export type SimHostConfig = z.infer<typeof SimHostConfig>;

/** How a running VM's "guest" writes on its own: a verifiable pattern at a rate. */
export const SimWriter = z.object({
  /** Pattern writes per second; 0 = the guest writes only when asked (guestWrite). */
  ratePerSecond: z.number().min(0).max(1000),
  /** 4 KiB units per pattern write. */
  unitsPerWrite: z.number().int().min(1).max(256),
  /** Seeds the choice of disk and offset of each write (with the write's sequence number). */
  seed: z.number().int().min(0).max(0xffffffff),
});
export type SimWriter = z.infer<typeof SimWriter>;

export const SimDisk = z.object({
  path: z.string().min(1),
  format: z.enum(['VHDX', 'Raw']),
  controllerType: z.enum(['IDE', 'SCSI']),
  controllerNumber: z.number().int().min(0),
  controllerLocation: z.number().int().min(0),
});
export type SimDisk = z.infer<typeof SimDisk>;

export const SimAdapter = z.object({
  name: z.string(),
  macAddress: mac,
  dynamicMac: z.boolean(),
  switchName: z.string().nullable(),
});
export type SimAdapter = z.infer<typeof SimAdapter>;

/** A VM's configuration and last requested state: `vms/<id>/vm.json`; also the exported config. */
export const SimVmRecord = z.object({
  id: guid,
  name: z.string(),
  /** What the host last did to it; Running with a dead process reads as Off (host crash). */
  state: z.enum(['Off', 'Running', 'Saved']),
  memoryBytes: z.number().int().positive(),
  processorCount: z.number().int().positive(),
  configurationVersion: z.string().regex(/^\d+\.\d+$/),
  generation: z.union([z.literal(1), z.literal(2)]),
  disks: z.array(SimDisk),
  networkAdapters: z.array(SimAdapter),
  writer: SimWriter,
});
export type SimVmRecord = z.infer<typeof SimVmRecord>;

/** Written by the VM process: `vms/<id>/runtime.json`. */
export const SimRuntime = z.object({
  pid: z.number().int().positive(),
  bootId: guid,
  /** The "guest heartbeat": true once the disks are open and the process serves requests. */
  ready: z.boolean(),
  startedAt: z.string(),
});
export type SimRuntime = z.infer<typeof SimRuntime>;

/** An open frozen view: `vms/<id>/freeze.json`; while it exists writes go to the overlays. */
export const SimFreeze = z.object({
  viewId: guid,
  takenAt: z.string(),
  /** One overlay file per disk (next to the disk, like an .avhdx), created on first write. */
  overlays: z.array(z.string()),
});
export type SimFreeze = z.infer<typeof SimFreeze>;

/** Faults a test asked for (`vms/<id>/faults.json`): the next `release` operations that fail before merging. */
export const SimFaults = z.object({ release: z.number().int().nonnegative() });
export type SimFaults = z.infer<typeof SimFaults>;

/** A request from the driver to a running VM process: `vms/<id>/requests/<n>.json`. */
export const SimRequest = z.object({
  bootId: guid,
  op: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('freeze'), viewId: guid }),
    z.object({ kind: z.literal('release'), viewId: guid, commit: z.boolean() }),
    z.object({ kind: z.literal('write'), diskIndex: z.number().int().min(0), offset: z.number().int().min(0), length: z.number().int().positive().max(64 * 1024 * 1024), pattern: z.number().int().min(0).max(255) }),
    z.object({ kind: z.literal('setWriter'), writer: SimWriter }),
    z.object({ kind: z.literal('shutdown') }),
  ]),
});
export type SimRequest = z.infer<typeof SimRequest>;
export type SimOp = SimRequest['op'];

/** The VM process's answer: `vms/<id>/responses/<n>.json`. */
export const SimResponse = z.object({
  ok: z.boolean(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  result: z.unknown().optional(),
});
export type SimResponse = z.infer<typeof SimResponse>;
