import { UsageError } from '../errors';
import type { Hypervisor, HypervisorId } from './types';
import { createSimulatedHypervisor } from './simulated';

// Picks the driver named by the host's configuration. Each driver gets only its own part of deps.

export interface HypervisorDeps {
  /** The simulated driver: the host's state folder (created by createSimulatedHost). */
  simulated?: { stateDir: string };
  /** The Hyper-V driver's options (owned by the Hyper-V driver). */
  hyperv?: Record<string, unknown>;
}

/** The hypervisor driver `id`, built from its part of `deps`. */
export function createHypervisor(id: HypervisorId, deps: HypervisorDeps): Hypervisor {
  switch (id) {
    case 'simulated':
      if (deps.simulated === undefined) throw new UsageError('the simulated hypervisor needs deps.simulated.stateDir');
      return createSimulatedHypervisor(deps.simulated.stateDir);
    case 'hyperv':
      throw new UsageError('the Hyper-V driver is not registered yet');
  }
}
