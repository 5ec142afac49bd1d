// Every failure vmmirror reports carries a stable code; the code picks the CLI exit status.
// Codes are shared with the PowerShell scripts' `Error.Code` values (docs/errors.md).

export const ExitCodes = {
  OK: 0,
  DIFFERS: 1, // verify: a replica differs from its source (a result, not an error)
  USAGE: 2,
  CONFIG: 3,
  INPUT: 4, // bad data: corrupt VHDX, bad stream, wrong generation
  IO: 5, // file system: missing file, disk full, permission
  HYPERVISOR: 6,
  PEER: 7,
  INTERNAL: 70,
} as const;
export type ExitCodeName = keyof typeof ExitCodes;

/** Each code belongs to one exit class. */
export const ErrorCodes = {
  USAGE: 'USAGE',
  CONFIG_INVALID: 'CONFIG',
  CONFIG_NOT_FOUND: 'CONFIG',
  IDENTITY_EXISTS: 'CONFIG',
  WITNESS_STATE_INVALID: 'CONFIG', // the witness's claims file is damaged: it will not start on a guess
  VHDX_INVALID: 'INPUT',
  VHDX_UNSUPPORTED: 'INPUT',
  RANGE_INVALID: 'INPUT',
  STREAM_INVALID: 'INPUT',
  STREAM_TRUNCATED: 'INPUT',
  STREAM_CHECKSUM: 'INPUT',
  STREAM_OUT_OF_RANGE: 'INPUT',
  STREAM_WRONG_TARGET: 'INPUT',
  STREAM_WRONG_GENERATION: 'INPUT',
  STREAM_REPLAYED: 'INPUT',
  MANIFEST_MISMATCH: 'INPUT',
  REPLICA_INVALID: 'INPUT',
  CLUSTER_STATE_INVALID: 'INPUT', // a module's durable cluster record is damaged: never replaced by a guess
  SOURCE_CHANGED: 'INPUT', // a source file changed while it was being read (no frozen view)
  REPLICA_LOCKED: 'IO',
  REPLICA_UNSAFE_PATH: 'IO', // a symlink, hard link, reparse point or non-regular file where vmmirror writes
  FILE_NOT_FOUND: 'IO',
  DISK_FULL: 'IO',
  IO_ERROR: 'IO',
  VM_NOT_FOUND: 'HYPERVISOR',
  VM_AMBIGUOUS: 'HYPERVISOR',
  VM_WRONG_STATE: 'HYPERVISOR',
  VM_TIMEOUT: 'HYPERVISOR',
  VM_INCOMPATIBLE: 'HYPERVISOR',
  HYPERVISOR_ERROR: 'HYPERVISOR',
  PS_PROTOCOL: 'HYPERVISOR',
  PS_TIMEOUT: 'HYPERVISOR',
  PS_SESSION_DIED: 'HYPERVISOR',
  RCT_UNAVAILABLE: 'HYPERVISOR',
  HOOK_FAILED: 'HYPERVISOR',
  HOOK_NOT_FOUND: 'CONFIG', // a module's hook script is not on this host (docs/hooks.md)
  EXECUTION_POLICY: 'HYPERVISOR', // a Group Policy execution policy refuses vmmirror's unsigned ps/ scripts
  VM_ALREADY_REGISTERED: 'HYPERVISOR', // a VM with the replica's id exists on the host and is not the module's copy
  TASK_SCHEDULER_UNAVAILABLE: 'HYPERVISOR', // install-task/uninstall-task on a host without Windows Task Scheduler (the ScheduledTasks module)
  PEER_UNREACHABLE: 'PEER',
  PEER_REFUSED: 'PEER',
  PEER_PROTOCOL: 'PEER',
  PEER_TIMEOUT: 'PEER',
  AGENT_UNREACHABLE: 'PEER',
  AGENT_UNAUTHORIZED: 'PEER',
  MODULE_NOT_FOUND: 'USAGE',
  MODULE_NOT_PRIMARY: 'USAGE',
  LAB_DIR_NOT_EMPTY: 'USAGE', // `vmmirror lab create` into a folder that holds something that is not a lab
  MODULE_NOT_SECONDARY: 'PEER', // a stream or resync for a module this host does not hold the replica of now
  HANDOVER_FAILED: 'PEER', // a planned switchover stopped at a step; the VM runs on exactly one host (the message names which)
  SWITCHOVER_REFUSED: 'PEER', // a planned switchover refused before anything moved: a check failed (Details.Checks names it)
  DRAIN_INCOMPLETE: 'PEER', // vmmirror drain left VMs on the host (Details.Report names each module and why); the host stays in maintenance
  FAILBACK_DAMPED: 'PEER', // an automatic failback held back: this host came back too often lately (Agent.FailbackDamping)
  VM_NOT_REGISTERED: 'HYPERVISOR', // a takeover found no replica VM registered for the module on this host
  VM_CONFIG_INVALID: 'INPUT', // an exported VM configuration from the peer is malformed (file name, size, digest) or the stored one is damaged
  STALE_EPOCH: 'PEER', // a stream, command or acknowledgement from an older ownership epoch
  CYCLE_TIMEOUT: 'PEER', // a replication cycle passed its one deadline (Agent.CycleTimeoutSeconds)
  BALANCE_INFEASIBLE: 'CONFIG', // balance: pins and anti-affinity groups contradict each other (docs/balance.md)
  BALANCE_LOAD_UNKNOWN: 'CONFIG', // balance: a module without Weight whose VM is not on this host
  BALANCE_PLAN_CHANGED: 'USAGE', // balance --apply: the plan is not the one expected, or a module file changed meanwhile
  BALANCE_PEER_UNAVAILABLE: 'PEER', // balance --apply: the peer's module files cannot be rewritten, so neither are this host's
  CANCELLED: 'INTERNAL',
  DEMO_STEP_FAILED: 'INTERNAL', // vmmirror demo: a step did not reach its condition in time (the message names the step and what was seen)
  TOOL_MISSING: 'CONFIG', // a program vmmirror needs here is not on the PATH (vmmirror demo / lab: qemu-img, qemu-io)
  CLI_OUTPUT_INVALID: 'INTERNAL', // the PowerShell module (ps/VmMirror) got no single JSON document from the CLI
  INTERNAL: 'INTERNAL',
} as const satisfies Record<string, ExitCodeName>;
export type ErrorCode = keyof typeof ErrorCodes;

export interface ErrorOptions {
  details?: Record<string, unknown>;
  cause?: unknown;
}

/** Base class: `code` is stable and machine-readable, `message` is for people. */
export class VmmirrorError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options.details ?? {};
  }

  get exitCode(): number {
    return ExitCodes[ErrorCodes[this.code]];
  }
}

export class UsageError extends VmmirrorError {
  constructor(message: string, options?: ErrorOptions) {
    super('USAGE', message, options);
  }
}
export class ConfigError extends VmmirrorError {}
export class ReplicationError extends VmmirrorError {}
export class HypervisorError extends VmmirrorError {}
export class PeerError extends VmmirrorError {}
export class InvariantError extends VmmirrorError {
  constructor(message: string, options?: ErrorOptions) {
    super('INTERNAL', message, options);
  }
}

/** True when `err` is a vmmirror error with the given code (checks the code, never the text). */
export function hasCode(err: unknown, code: ErrorCode): boolean {
  return err instanceof VmmirrorError && err.code === code;
}

/** Maps a Node.js file-system error to a typed error; anything else is returned unchanged. */
export function fromNodeError(err: unknown, what: string): unknown {
  if (err instanceof VmmirrorError || !(err instanceof Error)) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new ReplicationError('DISK_FULL', `${what}: no space left on device`, { cause: err });
  }
  if (code === 'ENOENT') return new ReplicationError('FILE_NOT_FOUND', `${what}: no such file`, { cause: err });
  if (code !== undefined) return new ReplicationError('IO_ERROR', `${what}: ${err.message}`, { cause: err, details: { errno: code } });
  return err;
}
