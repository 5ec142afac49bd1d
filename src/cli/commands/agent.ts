import { z } from 'zod';
import { loadConfig } from '../../config';
import { UsageError } from '../../errors';
import type { CommandRegistrar } from '../command';
import { emit } from '../output';

// `vmmirror agent`: runs in the foreground until SIGTERM/SIGINT (Windows: the scheduled task stops it).

export const AgentOutput = z.object({ Host: z.string(), StartedAt: z.string().datetime(), StoppedAt: z.string().datetime(), Signal: z.string().nullable() });

export const registerAgent: CommandRegistrar = (program, run) => {
  program
    .command('agent')
    .description('run the host agent: peer link, heartbeats, replication schedules, local control API')
    .option('--dir <dir>', 'config directory (default: VMMIRROR_CONFIG_DIR or the platform default)')
    .option('--grace <ms>', 'on SIGTERM, how long an in-flight cycle may finish before it is aborted', '10000')
    .action((opts: { dir?: string; grace: string }) =>
      run(async () => {
        // Nothing opens before the whole config is valid: loadConfig throws CONFIG_INVALID first.
        const graceMs = Number(opts.grace);
        if (!Number.isInteger(graceMs) || graceMs < 0) throw new UsageError(`--grace must be a whole number of milliseconds, got ${JSON.stringify(opts.grace)}`);
        const config = await loadConfig(opts.dir);
        const startedAt = new Date();
        // Loaded here, not at the top: the agent pulls in TLS, cron and the drivers, which every
        // other command (run often by scheduled tasks and PowerShell) would otherwise pay for.
        const { startAgent } = require('../../agent/agent') as typeof import('../../agent/agent');
        const agent = await startAgent(config);
        let signal: string | null = null;
        const onSignal = (s: NodeJS.Signals): void => {
          signal = s;
          void agent.stop(graceMs);
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
        try {
          await agent.stopped;
        } finally {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
        }
        const json = emit(AgentOutput, { Host: config.self.Name, StartedAt: startedAt.toISOString(), StoppedAt: new Date().toISOString(), Signal: signal });
        return { json, text: `agent ${config.self.Name} stopped${signal !== null ? ` (${signal as string})` : ''}` };
      }),
    );
};
