import type { LoadedConfig } from '../config';
import { fromConfigDir } from '../config';
import { join } from 'node:path';
import { ConfigError } from '../errors';
import { createHypervisor } from '../hypervisor/registry';
import type { Hypervisor } from '../hypervisor/types';

// The agent's driver, from cluster.json Hypervisor. Simulated: Options.StateDirectory (default
// <DataDirectory>/simulated), which tests and the demo fill with createSimulatedHost/-Vm.

/** Builds the configured hypervisor driver. */
export function agentHypervisor(config: LoadedConfig): Hypervisor {
  const opts = config.hypervisor.Options;
  if (config.hypervisor.Driver === 'simulated') {
    const dir = opts.StateDirectory;
    if (dir !== undefined && typeof dir !== 'string') throw new ConfigError('CONFIG_INVALID', 'cluster.json: Hypervisor.Options.StateDirectory must be a path');
    return createHypervisor('simulated', { simulated: { stateDir: dir !== undefined ? fromConfigDir(config.dir, dir) : join(config.dataDir, 'simulated') } });
  }
  return createHypervisor('hyperv', { hyperv: opts });
}
