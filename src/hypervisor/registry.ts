import { UsageError } from '../errors';
import type { Hypervisor, HypervisorId } from './types';
import { createSimulatedHypervisor } from './simulated';
import { createHypervHypervisor, type HypervDriverOptions } from './hyperv/driver';

// Picks the driver named by the host's configuration. Each driver gets only its own part of deps.

export interface HypervisorDeps {
  /** The simulated driver: the host's state folder (created by createSimulatedHost). */
  simulated?: { stateDir: string };
  /** The Hyper-V driver: the PowerShell executable (powershell.exe on hosts) and runner options. */
  hyperv?: HypervDriverOptions;
}

/** The hypervisor driver `id`, built from its part of `deps`. */
export function createHypervisor(id: HypervisorId, deps: HypervisorDeps): Hypervisor {
  switch (id) {
    case 'simulated':
      if (deps.simulated === undefined) throw new UsageError('the simulated hypervisor needs deps.simulated.stateDir');
      return createSimulatedHypervisor(deps.simulated.stateDir);
    case 'hyperv':
      if (deps.hyperv?.executable === undefined && deps.hyperv?.runner === undefined && process.platform !== 'win32') {
        throw new UsageError('the Hyper-V driver needs deps.hyperv.executable (powershell.exe or pwsh) off Windows');
      }
      return createHypervHypervisor(deps.hyperv ?? {});
  }
}
