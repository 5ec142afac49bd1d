import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { initHost } from '../../src/config/init';
import { createHostIdentity } from '../../src/peer/certs';

// A valid two-host config directory (as init + the user's edits would leave it), for tests to break.

export interface ConfigFixture {
  dir: string;
  cluster: Record<string, any>;
  writeCluster(c: unknown): Promise<void>;
  writeModule(file: string, m: unknown): Promise<void>;
  writeRaw(rel: string, text: string): Promise<void>;
}

/** A valid module file body for `name` on host `primary`. */
export function moduleBody(name: string, primary = 'hv1', disk = `/vms/${name}/disk0.vhdx`): Record<string, any> {
  return { Name: name, VmName: name.toUpperCase(), DefaultPrimary: primary, Disks: [{ Path: disk }], Replication: { Interval: 30 } };
}

/** Runs init for hv1 in `dir`, fills in a real peer hv2, and writes one valid module. */
export async function makeConfig(dir: string): Promise<ConfigFixture> {
  const r = await initHost({ host: 'hv1', address: '127.0.0.2', dir });
  const peer = createHostIdentity('hv2');
  const cluster: Record<string, any> = {
    ClusterName: 'lab',
    Hosts: [
      { Name: 'hv1', Address: '127.0.0.2', Port: 7420, CertificateFingerprint: r.fingerprint },
      { Name: 'hv2', Address: '127.0.0.3', Port: 7420, CertificateFingerprint: peer.fingerprint },
    ],
    DataDirectory: 'data',
    Agent: { ControlPort: 7421 },
    Hypervisor: { Driver: 'simulated' },
  };
  const f: ConfigFixture = {
    dir,
    cluster,
    writeCluster: (c) => writeFile(join(dir, 'cluster.json'), JSON.stringify(c, null, 2)),
    writeModule: (file, m) => writeFile(join(dir, 'modules', file), JSON.stringify(m, null, 2)),
    writeRaw: async (rel, text) => {
      await mkdir(join(dir, rel, '..'), { recursive: true });
      await writeFile(join(dir, rel), text);
    },
  };
  await f.writeCluster(cluster);
  await f.writeModule('web1.json', moduleBody('web1'));
  return f;
}

/** Loosens a secret file's mode (to test the owner-only check). */
export function makeWorldReadable(path: string): Promise<void> {
  return chmod(path, 0o644);
}
