import { z } from 'zod';
import { UsageError } from '../../errors';
import type { CommandRegistrar } from '../command';
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

function parsePin(v: string, acc: Array<{ Name: string; CertificateFingerprint: string }> = []): Array<{ Name: string; CertificateFingerprint: string }> {
  const i = v.indexOf('=');
  if (i <= 0) throw new UsageError(`--pin must be <host-name>=<fingerprint>, got ${JSON.stringify(v)}`);
  return [...acc, { Name: v.slice(0, i), CertificateFingerprint: v.slice(i + 1) }];
}

export const registerWitness: CommandRegistrar = (program, run) => {
  const witness = program.command('witness').description('the third vote: a small lease server for a third machine');
  witness
    .command('init')
    .description("create the witness's key pair, certificate and witness.json; prints the fingerprint for cluster.json's Witness entry")
    .requiredOption('--dir <dir>', 'the witness directory')
    .requiredOption('--address <addr>', 'address to listen on (0.0.0.0 for all)')
    .option('--port <n>', 'port (default 7422)')
    .option('--pin <name=fingerprint>', "a host to accept (repeat for both; else fill in witness.json's Hosts)", parsePin)
    .option('--force', 'replace an existing identity (both hosts must then pin the new fingerprint)')
    .action((opts: { dir: string; address: string; port?: string; pin?: Array<{ Name: string; CertificateFingerprint: string }>; force?: boolean }) =>
      run(async () => {
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
      }),
    );
  witness
    .command('run')
    .description('serve leases and epoch claims to the two pinned hosts until SIGTERM/SIGINT')
    .requiredOption('--dir <dir>', 'the witness directory')
    .action((opts: { dir: string }) =>
      run(async () => {
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
      }),
    );
};
