import { z } from 'zod';
import { UsageError } from '../../errors';
import type { CommandOutcome } from '../command';
import { emit } from '../output';

// `vmmirror witness init|run`: the third vote on a third machine (docs/witness.md).

export const WitnessInitOutput = z.object({
  Directory: z.string(),
  Address: z.string(),
  Port: z.number().int(),
  CertificateFingerprint: z.string(),
  ConfigFile: z.string(),
  KeyPath: z.string(),
  CertificatePath: z.string(),
});

export const WitnessRunOutput = z.object({ StartedAt: z.string().datetime(), StoppedAt: z.string().datetime(), Signal: z.string().nullable() });

function parsePort(v: string): number {
  if (!/^\d+$/.test(v)) throw new UsageError(`--port must be a whole number, got ${JSON.stringify(v)}`);
  return Number(v);
}

export interface WitnessPin {
  Name: string;
  CertificateFingerprint: string;
}

export interface WitnessInitOptions {
  dir: string;
  address: string;
  port?: string;
  pin?: WitnessPin[];
  force?: boolean;
}

/** Creates the witness identity and witness.json (definitions/witness.ts declares the command). */
export async function runWitnessInit(opts: WitnessInitOptions): Promise<CommandOutcome> {
  const { initWitness } = require('../../witness/config') as typeof import('../../witness/config');
  const r = await initWitness({ dir: opts.dir, address: opts.address, ...(opts.port !== undefined ? { port: parsePort(opts.port) } : {}), pins: opts.pin ?? [], force: opts.force === true });
  const json = emit(WitnessInitOutput, { Directory: r.dir, Address: r.address, Port: r.port, CertificateFingerprint: r.fingerprint, ConfigFile: r.configFile, KeyPath: r.keyPath, CertificatePath: r.certificatePath });
  const lines = [
    `witness initialised in ${r.dir}`,
    "certificate fingerprint (cluster.json on both hosts: Witness { Kind: 'Agent', Address, Port, CertificateFingerprint }):",
    `  ${r.fingerprint}`,
    (opts.pin ?? []).length === 2 ? 'both hosts pinned' : `fill in both hosts' Name and CertificateFingerprint in ${r.configFile}`,
    `then: vmmirror witness run --dir ${opts.dir}`,
  ];
  return { json, text: lines.join('\n') };
}

export interface WitnessRunOptions {
  dir: string;
}

/** Serves leases until a signal (definitions/witness.ts declares the command). */
export async function runWitnessRun(opts: WitnessRunOptions): Promise<CommandOutcome> {
  const { loadWitness } = require('../../witness/config') as typeof import('../../witness/config');
  const { WitnessServer } = require('../../witness/server') as typeof import('../../witness/server');
  const w = await loadWitness(opts.dir);
  const server = new WitnessServer({ witness: w });
  const startedAt = new Date();
  const a = await server.start();
  // One line on stderr for scripts and tests: listening (the port when 0 was asked), quiet period.
  process.stderr.write(`${JSON.stringify({ event: 'witness-listening', address: a.address, port: a.port, quietMs: a.quietMs })}\n`);
  let signal: string | null = null;
  await new Promise<void>((resolve) => {
    const onSignal = (s: NodeJS.Signals): void => {
      signal = s;
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  await server.close();
  const json = emit(WitnessRunOutput, { StartedAt: startedAt.toISOString(), StoppedAt: new Date().toISOString(), Signal: signal });
  return { json, text: `witness stopped${signal !== null ? ` (${signal as string})` : ''}` };
}
