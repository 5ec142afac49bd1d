import { join } from 'node:path';
import type { LoadedConfig, ResolvedModule } from '../../src/config';

// A secondary host's loaded config for ReplicaSide tests: this host is "a"; web1 (explicit disk)
// and web2 (Disks auto) have primary "b", "mine" has primary "a".

export function testModule(name: string, primary: string, disks: ResolvedModule['disks']): ResolvedModule {
  return {
    name,
    file: `modules/${name}.json`,
    vmName: name,
    disks,
    defaultPrimary: primary,
    replication: { interval: 30, compression: 'none', blockSize: 4096 },
    policies: { failback: 'auto', stopMode: 'Shutdown', stopTimeoutSeconds: 1, startTimeoutSeconds: 1 },
    hooks: {},
  };
}

export function secondaryConfig(dir: string): LoadedConfig {
  const host = (n: string) => ({ Name: n, Address: '127.0.0.1', Port: 1, CertificateFingerprint: 'x' });
  return {
    dir,
    clusterName: 'lab',
    self: host('a'),
    peer: host('b'),
    hosts: [host('a'), host('b')],
    dataDir: join(dir, 'data'),
    modulesDir: join(dir, 'modules'),
    keyPath: '',
    certificatePath: '',
    tokenPath: '',
    agent: { HeartbeatIntervalMs: 1000, PeerLossTimeoutMs: 5000, MaxConcurrentCycles: 1, BandwidthLimitBytesPerSecond: null, CycleTimeoutSeconds: 60 },
    hypervisor: { Driver: 'simulated', Options: {} },
    modules: [
      testModule('web1', 'b', [{ name: 'web1.img', path: '/src/web1.img', replicaPath: join(dir, 'replicas', 'web1.img'), maxBytes: 1 << 20 }]),
      testModule('web2', 'b', 'auto'),
      testModule('mine', 'a', 'auto'),
    ],
  };
}
