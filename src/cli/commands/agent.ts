import { z } from 'zod';
import { loadConfig } from '../../config';
import { UsageError } from '../../errors';
import type { CommandOutcome } from '../command';
import { emit } from '../output';

// `vmmirror agent`: runs in the foreground until SIGTERM/SIGINT (Windows: the scheduled task stops it).

export const AgentOutput = z.object({ Host: z.string(), StartedAt: z.string().datetime(), StoppedAt: z.string().datetime(), Signal: z.string().nullable() });

export interface AgentOptions {
  dir?: string;
  grace: string;
}

/** Runs the agent until a signal (definitions/agent.ts declares the command). */
export async function runAgent(opts: AgentOptions): Promise<CommandOutcome> {
  // Nothing opens before the whole config is valid: loadConfig throws CONFIG_INVALID first.
  const graceMs = Number(opts.grace);
  if (!Number.isInteger(graceMs) || graceMs < 0) throw new UsageError(`--grace must be a whole number of milliseconds, got ${JSON.stringify(opts.grace)}`);
  const config = await loadConfig(opts.dir);
  const startedAt = new Date();
  // Loaded here, not at the top: the agent pulls in TLS, cron and the drivers, which every
  // other command (run often by scheduled tasks and PowerShell) would otherwise pay for.
  const { startAgent } = require('../../agent/agent') as typeof import('../../agent/agent');
  // The handlers are in place before the agent starts: its control API answers while startAgent
  // still runs, and a SIGTERM then (a scheduled task stopped early) must stop it cleanly, not kill it.
  let signal: string | null = null;
  let stop: (() => void) | undefined;
  const onSignal = (s: NodeJS.Signals): void => {
    signal = s;
    stop?.();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    const agent = await startAgent(config);
    stop = () => void agent.stop(graceMs);
    if (signal !== null) stop();
    await agent.stopped;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  const json = emit(AgentOutput, { Host: config.self.Name, StartedAt: startedAt.toISOString(), StoppedAt: new Date().toISOString(), Signal: signal });
  return { json, text: `agent ${config.self.Name} stopped${signal !== null ? ` (${signal as string})` : ''}` };
}
