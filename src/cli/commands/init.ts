import { z } from 'zod';
import { initHost } from '../../config/init';
import { UsageError } from '../../errors';
import type { CommandOutcome } from '../command';
import { emit } from '../output';

// `vmmirror init`: make this host's key pair, certificate and token; write the config skeleton.

export const InitOutput = z.object({
  HostName: z.string(),
  Address: z.string(),
  Port: z.number().int(),
  CertificateFingerprint: z.string(),
  ConfigDirectory: z.string(),
  KeyPath: z.string(),
  CertificatePath: z.string(),
  TokenPath: z.string(),
  HostFile: z.string(),
  ClusterFile: z.string(),
  ClusterFileWritten: z.boolean(),
});
export type InitOutput = z.infer<typeof InitOutput>;

function parsePort(v: string): number {
  if (!/^\d+$/.test(v)) throw new UsageError(`--port must be a whole number, got ${JSON.stringify(v)}`);
  return Number(v);
}

export interface InitOptions {
  host: string;
  address: string;
  port?: string;
  dir?: string;
  force?: boolean;
}

/** Creates this host's identity and config skeleton (definitions/init.ts declares the command). */
export async function runInit(opts: InitOptions): Promise<CommandOutcome> {
  const r = await initHost({ host: opts.host, address: opts.address, ...(opts.port !== undefined ? { port: parsePort(opts.port) } : {}), ...(opts.dir !== undefined ? { dir: opts.dir } : {}), force: opts.force === true });
  const json = emit(InitOutput, {
    HostName: r.hostName,
    Address: r.address,
    Port: r.port,
    CertificateFingerprint: r.fingerprint,
    ConfigDirectory: r.dir,
    KeyPath: r.keyPath,
    CertificatePath: r.certificatePath,
    TokenPath: r.tokenPath,
    HostFile: r.hostFile,
    ClusterFile: r.clusterFile,
    ClusterFileWritten: r.clusterFileWritten,
  });
  const lines = [
    `host ${r.hostName} initialised in ${r.dir}`,
    `certificate fingerprint (paste into the peer's cluster.json, Hosts[].CertificateFingerprint):`,
    `  ${r.fingerprint}`,
    r.clusterFileWritten
      ? `wrote ${r.clusterFile}: fill in the peer's Name, Address and CertificateFingerprint, then copy it to the peer`
      : `${r.clusterFile} already exists and was left alone: set this host's CertificateFingerprint in it`,
    'then: vmmirror config validate',
  ];
  return { json, text: lines.join('\n') };
}
