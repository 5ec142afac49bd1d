import { z } from 'zod';
import { loadConfig } from '../../config';
import type { CommandOutcome } from '../command';
import { emit } from '../output';

// `vmmirror guard`: the small process that turns this host's VMs off when the agent stops renewing
// its lease (docs/cluster.md, Guard). Started beside the agent (the scheduled task keeps both).

export const GuardOutput = z.object({ Host: z.string(), StartedAt: z.string().datetime(), StoppedAt: z.string().datetime() });

export interface GuardOptions {
  dir?: string;
}

/** Runs the guard until a signal (definitions/guard.ts declares the command). */
export async function runGuard(opts: GuardOptions): Promise<CommandOutcome> {
  const config = await loadConfig(opts.dir);
  const startedAt = new Date();
  // Loaded only here: the drivers are heavy, and no other command needs them.
  const { agentHypervisor } = require('../../agent/hypervisor') as typeof import('../../agent/hypervisor');
  const { runGuard: guardUntilStopped } = require('../../guard/guard') as typeof import('../../guard/guard');
  const { componentLogger } = require('../../log') as typeof import('../../log');
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    const hypervisor = agentHypervisor(config);
    const { resolveVm } = require('../../agent/cycle-sources') as typeof import('../../agent/cycle-sources');
    await guardUntilStopped({
      dataDir: config.dataDir,
      hypervisor,
      log: componentLogger('guard', { host: config.self.Name }),
      // The lease lasts PeerLossTimeoutMs (src/agent/cluster/settings.ts); a second of slack.
      maxLeaseMs: config.agent.PeerLossTimeoutMs + 1000,
      moduleVms: async () => {
        const out: Array<{ Module: string; VmId: string }> = [];
        for (const m of config.modules) {
          const id = await resolveVm(hypervisor, m).catch(() => null);
          if (id !== null) out.push({ Module: m.name, VmId: id });
        }
        return out;
      },
      signal: stop.signal,
    });
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  const json = emit(GuardOutput, { Host: config.self.Name, StartedAt: startedAt.toISOString(), StoppedAt: new Date().toISOString() });
  return { json, text: `guard ${config.self.Name} stopped` };
}
