import { z } from 'zod';
import { loadConfig } from '../../config';
import type { CommandRegistrar } from '../command';
import { emit } from '../output';

// `vmmirror guard`: the small process that turns this host's VMs off when the agent stops renewing
// its lease (docs/cluster.md, Guard). Started beside the agent (the scheduled task keeps both).

export const GuardOutput = z.object({ Host: z.string(), StartedAt: z.string().datetime(), StoppedAt: z.string().datetime() });

export const registerGuard: CommandRegistrar = (program, run) => {
  program
    .command('guard')
    .description("turn this host's VMs off when the agent's lease runs out, whether or not the agent still runs")
    .option('--dir <dir>', 'config directory (default: VMMIRROR_CONFIG_DIR or the platform default)')
    .action((opts: { dir?: string }) =>
      run(async () => {
        const config = await loadConfig(opts.dir);
        const startedAt = new Date();
        // Loaded only here: the drivers are heavy, and no other command needs them.
        const { agentHypervisor } = require('../../agent/hypervisor') as typeof import('../../agent/hypervisor');
        const { runGuard } = require('../../guard/guard') as typeof import('../../guard/guard');
        const { componentLogger } = require('../../log') as typeof import('../../log');
        const stop = new AbortController();
        const onSignal = (): void => stop.abort();
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
        try {
          await runGuard({ dataDir: config.dataDir, hypervisor: agentHypervisor(config), log: componentLogger('guard', { host: config.self.Name }), signal: stop.signal });
        } finally {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
        }
        const json = emit(GuardOutput, { Host: config.self.Name, StartedAt: startedAt.toISOString(), StoppedAt: new Date().toISOString() });
        return { json, text: `guard ${config.self.Name} stopped` };
      }),
    );
};
