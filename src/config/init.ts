import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../errors';
import { createHostIdentity } from '../peer/certs';
import type { ClusterFile } from './cluster';
import { Name, Port } from './common';
import type { HostLocalFile } from './host-local';
import { exists } from './load';
import { CLUSTER_FILE, HOST_FILE, configDir } from './paths';
import { writeFileAtomic, writeSecretFile } from './write';

// `vmmirror init`: this host's identity (key, certificate, control token) and the config skeleton.

export const PEER_PLACEHOLDER = {
  Name: 'peer-host',
  Address: 'PEER-ADDRESS',
  CertificateFingerprint: 'PASTE-THE-PEER-FINGERPRINT-HERE',
};

export interface InitOptions {
  host: string;
  address: string;
  port?: number;
  dir?: string;
  force?: boolean;
}

export interface InitResult {
  dir: string;
  hostName: string;
  address: string;
  port: number;
  fingerprint: string;
  keyPath: string;
  certificatePath: string;
  tokenPath: string;
  hostFile: string;
  clusterFile: string;
  clusterFileWritten: boolean;
}

function check(ok: boolean, field: string, message: string): void {
  if (!ok) throw new ConfigError('CONFIG_INVALID', `--${field} ${message}`, { details: { Field: field } });
}

/** Creates the identity and skeleton; refuses to replace an existing identity unless `force`. */
export async function initHost(o: InitOptions): Promise<InitResult> {
  check(Name.safeParse(o.host).success, 'host', 'must be 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit');
  check(o.address.trim().length > 0, 'address', 'must not be empty');
  const port = o.port ?? 7420;
  check(Port.safeParse(port).success, 'port', 'must be a whole number from 1 to 65535');
  const dir = configDir(o.dir);
  const idDir = join(dir, 'identity');
  const keyPath = join(idDir, 'host.key');
  const certificatePath = join(idDir, 'host.crt');
  const tokenPath = join(idDir, 'control.token');
  const hostFile = join(dir, HOST_FILE);
  const clusterFile = join(dir, CLUSTER_FILE);
  if (!o.force) {
    for (const p of [keyPath, certificatePath, hostFile]) {
      if (await exists(p)) {
        throw new ConfigError('IDENTITY_EXISTS', `${p} already exists: this host already has an identity (pass --force to replace it; the peer must then pin the new fingerprint)`, { details: { Path: p } });
      }
    }
  }
  const identity = createHostIdentity(o.host);
  await mkdir(idDir, { recursive: true, mode: 0o700 });
  await mkdir(join(dir, 'modules'), { recursive: true });
  await writeSecretFile(keyPath, identity.keyPem);
  await writeFileAtomic(certificatePath, identity.certPem);
  await writeSecretFile(tokenPath, `${randomBytes(32).toString('hex')}\n`);
  const host: HostLocalFile = { HostName: o.host, KeyPath: 'identity/host.key', CertificatePath: 'identity/host.crt', TokenPath: 'identity/control.token' };
  await writeFileAtomic(hostFile, `${JSON.stringify(host, null, 2)}\n`);
  const clusterFileWritten = !(await exists(clusterFile));
  if (clusterFileWritten) {
    const skeleton: ClusterSkeleton = {
      ClusterName: 'vmmirror',
      Hosts: [
        { Name: o.host, Address: o.address, Port: port, CertificateFingerprint: identity.fingerprint },
        { Name: PEER_PLACEHOLDER.Name, Address: PEER_PLACEHOLDER.Address, Port: 7420, CertificateFingerprint: PEER_PLACEHOLDER.CertificateFingerprint },
      ],
      DataDirectory: 'data',
      ModulesDirectory: 'modules',
      Defaults: { Replication: { Interval: 30, Compression: 'none' } },
      Agent: { ControlPort: 7421, HeartbeatIntervalMs: 1000, PeerLossTimeoutMs: 5000, MaxConcurrentCycles: 2, BandwidthLimitBytesPerSecond: null },
      Hypervisor: { Driver: process.platform === 'win32' ? 'hyperv' : 'simulated', Options: {} },
    };
    await writeFileAtomic(clusterFile, `${JSON.stringify(skeleton, null, 2)}\n`);
  }
  return { dir, hostName: o.host, address: o.address, port, fingerprint: identity.fingerprint, keyPath, certificatePath, tokenPath, hostFile, clusterFile, clusterFileWritten };
}

/** cluster.json as written by init (input form: the peer entry is a placeholder the user completes). */
type ClusterSkeleton = Omit<ClusterFile, 'Hosts' | 'Agent' | 'Defaults' | 'ModulesDirectory' | 'Hypervisor'> & {
  Hosts: Array<{ Name: string; Address: string; Port: number; CertificateFingerprint: string }>;
  ModulesDirectory: string;
  Defaults: unknown;
  Agent: unknown;
  Hypervisor: unknown;
};
