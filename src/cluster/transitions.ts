import { InvariantError } from '../errors';
import type { ModuleState } from './record';

// Every change of a module's state the machine may make, in one table (docs/cluster.md draws it).
// step() checks each change against it, and the scenario tests check that every row is exercised.

export interface Transition {
  from: ModuleState;
  to: ModuleState;
  when: string;
}

export const TRANSITIONS: readonly Transition[] = [
  { from: 'WAIT', to: 'PRIM', when: 'this host owns the epoch, knows its copy is the newest (peer agrees) and the peer holds the replica in SECOND' },
  { from: 'WAIT', to: 'ALONE', when: 'this host owns the epoch and knows its copy is the newest (peer not in SECOND, or the witness confirmed the epoch), and holds quorum' },
  { from: 'WAIT', to: 'SECOND', when: 'resync from the peer finished, or a cold start finds the peer running the module' },
  { from: 'WAIT', to: 'STOP', when: 'operator stop, or the VM was stopped outside vmmirror' },
  { from: 'PRIM', to: 'ALONE', when: 'the peer is lost (the epoch is bumped through the witness so its stale copy cannot start) or leaves SECOND' },
  { from: 'PRIM', to: 'WAIT', when: 'quorum lost: the VM is fenced; or the peer holds a newer epoch: fenced, resync' },
  { from: 'PRIM', to: 'SECOND', when: 'planned switchover away (failback): VM stopped here, final cycle sent, the next epoch handed to the peer' },
  { from: 'PRIM', to: 'STOP', when: 'operator stop, or the VM was stopped outside vmmirror' },
  { from: 'ALONE', to: 'PRIM', when: 'the peer is back in SECOND at the same epoch' },
  { from: 'ALONE', to: 'WAIT', when: 'quorum lost or the witness refused the epoch bump: the VM is fenced; or the peer holds a newer epoch' },
  { from: 'ALONE', to: 'STOP', when: 'operator stop, or the VM was stopped outside vmmirror' },
  { from: 'SECOND', to: 'ALONE', when: 'takeover: peer lost, the witness granted a new epoch and the lease granted to the peer expired' },
  { from: 'SECOND', to: 'PRIM', when: 'a failback (planned switchover) to this host finished' },
  { from: 'SECOND', to: 'WAIT', when: 'the peer holds a newer epoch than this copy: resync' },
  { from: 'SECOND', to: 'STOP', when: 'operator stop, or the VM was stopped outside vmmirror' },
  { from: 'STOP', to: 'WAIT', when: 'operator start: decided afresh as after a cold start' },
];

export function isAllowed(from: ModuleState, to: ModuleState): boolean {
  return from === to || TRANSITIONS.some((t) => t.from === from && t.to === to);
}

export function assertTransition(module: string, from: ModuleState, to: ModuleState): void {
  if (!isAllowed(from, to)) throw new InvariantError(`cluster: module ${module} may not go from ${from} to ${to}`);
}
