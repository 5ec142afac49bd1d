import type { ModuleSnapshot } from '../cluster/types';

// One sentence per reason a module does not run here (`vmmirror status` WaitExplanation), worded
// for the operator who reads it at 3 a.m.: what the host waits for, and whom. Pure.

export interface WaitContext {
  self: string;
  peerName: string;
  /** The failure detector's verdict on the peer now. */
  peerAlive: boolean;
  /** null: the cluster has no witness. */
  witnessReachable: boolean | null;
}

function reachability(c: WaitContext): string {
  if (c.peerAlive) return '';
  if (c.witnessReachable === true) return ` (${c.peerName} is unreachable; the witness answers)`;
  if (c.witnessReachable === false) return ` (neither ${c.peerName} nor the witness is reachable now)`;
  return ` (${c.peerName} is unreachable and the cluster has no witness)`;
}

function coldStart(m: ModuleSnapshot, c: WaitContext): string {
  const base = 'Waiting to learn from the peer or the witness that this copy is the newest';
  // Who can end the wait differs (module-decide.ts decideWait): say which case this is.
  if (m.owner === c.self) return `${base} before starting the VM here, its last owner${reachability(c)}.`;
  if (m.owner === null && m.defaultPrimary === c.self) return `${base}; the module has never run, and this host, its default primary, takes the first epoch${reachability(c)}.`;
  const owner = m.owner ?? m.defaultPrimary;
  return `${base}; this host holds only the replica, so it waits for ${owner} to answer and never starts this copy by itself${reachability(c)}.`;
}

/** Why the module waits (WAIT) or is stopped (STOP) on this host; null when it neither waits nor is stopped. */
export function waitExplanation(m: ModuleSnapshot, c: WaitContext): string | null {
  if (m.state === 'STOP') return 'Stopped by an operator, or its VM was stopped outside vmmirror; nothing is started here until an operator starts the module again (vmmirror start).';
  if (m.state !== 'WAIT') return null;
  const owner = m.owner ?? c.peerName;
  switch (m.waitReason) {
    case 'cold-start':
      return coldStart(m, c);
    case 'no-quorum':
      return `This host lost its lease (no vote from ${c.peerName} or the witness) and fenced the VM; it waits until a second vote is back${reachability(c)}.`;
    case 'resync':
      return c.peerAlive
        ? `This copy is stale (the VM ran on ${owner} at epoch ${m.epoch}); it is being resynchronised from ${owner}, sending only the blocks that differ.`
        : `This copy is stale (the VM ran on ${owner} at epoch ${m.epoch}); its resync starts once ${owner} is reachable again.`;
    case 'resync-failed':
      return `Resynchronising this stale copy from ${owner} failed (see LastError); it is tried again after a pause${reachability(c)}.`;
    case 'start-failed':
      return 'Starting the VM here failed (see LastError); it is tried again after a pause.';
    case null:
      return 'Waiting, for a reason the cluster layer did not record.';
  }
}
