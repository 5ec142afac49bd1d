import type { ResolvedModule } from '../config';

// Who runs a module. Today: the default primary always does. The cluster state machine (failover,
// fencing, failback) replaces this one function; everything else asks it, never decides itself.

export type ModuleRole = 'primary' | 'secondary';

/** Facts a role decision may use; the cluster issue adds quorum, peer state and failover records. */
export interface RoleInputs {
  selfName: string;
  module: Pick<ResolvedModule, 'name' | 'defaultPrimary'>;
}

/** This host's role for one module (pure: same inputs, same answer). */
export function decideRole(i: RoleInputs): ModuleRole {
  return i.module.defaultPrimary.toLowerCase() === i.selfName.toLowerCase() ? 'primary' : 'secondary';
}
