import { join } from 'node:path';
import type { ReplicaSideOptions } from '../../src/agent/replica-side';
import type { LocalVmDisk } from '../../src/agent/replica-targets';
import type { LoadedConfig, ResolvedModule } from '../../src/config';
import { VmmirrorError } from '../../src/errors';

// A receiving host's loaded config for ReplicaSide tests: this host is "a"; web1 (explicit disk
// with MaxBytes), web2 (Disks auto) and web3 (explicit disk, no MaxBytes) have default primary
// "b", "mine" has default primary "a".

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
  const replica = (file: string) => join(dir, 'replicas', file);
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
    agent: { HeartbeatIntervalMs: 1000, PeerLossTimeoutMs: 5000, MaxConcurrentCycles: 1, BandwidthLimitBytesPerSecond: null, CycleTimeoutSeconds: 60, FailbackStableSeconds: 30, FailbackDamping: { MaxReturns: 3, WindowMinutes: 60 } },
    hypervisor: { Driver: 'simulated', Options: {} },
    modules: [
      testModule('web1', 'b', [{ name: 'web1.img', path: '/src/web1.img', replicaPath: replica('web1.img'), localPath: replica('web1.img'), maxBytes: 1 << 20 }]),
      testModule('web2', 'b', 'auto'),
      testModule('web3', 'b', [{ name: 'web3.vhdx', path: '/src/web3.vhdx', replicaPath: replica('web3.vhdx'), localPath: replica('web3.vhdx') }]),
      testModule('mine', 'a', 'auto'),
    ],
  };
}

/**
 * What the cluster layer and the hypervisor tell a ReplicaSide, as plain data a test changes:
 * `epochs` holds the epoch at which this host receives each module (absent: it must not receive
 * it, as when it runs the VM), `vmDisks` this host's VM disks per module (absent: no VM here).
 */
export interface FakeCluster {
  epochs: Map<string, number>;
  vmDisks: Map<string, LocalVmDisk[]>;
  /** Every gate question asked, in order. */
  asked: Array<{ module: string; epoch: number }>;
  applied: Array<{ module: string; epoch: number; generation: number }>;
  /** Called on every gate question (after it is recorded, before it is answered). */
  onGate?: (module: string, epoch: number) => void;
  /** Resolves once `n` applies were reported (an event, not a sleep). */
  appliedCount(n: number): Promise<void>;
  options(extra?: Partial<ReplicaSideOptions>): ReplicaSideOptions;
}

export function fakeCluster(): FakeCluster {
  const waiting: Array<{ n: number; resolve: () => void }> = [];
  const c: FakeCluster = {
    epochs: new Map([
      ['web1', 1],
      ['web2', 1],
      ['web3', 1],
    ]),
    vmDisks: new Map(),
    asked: [],
    applied: [],
    appliedCount: (n) => (c.applied.length >= n ? Promise.resolve() : new Promise((resolve) => waiting.push({ n, resolve }))),
    options: (extra = {}) => ({
      gate: (module, epoch) => {
        c.asked.push({ module, epoch });
        c.onGate?.(module, epoch);
        const held = c.epochs.get(module);
        if (held === undefined) throw new VmmirrorError('MODULE_NOT_SECONDARY', `this host does not receive ${module} now`);
        if (held !== epoch) throw new VmmirrorError('STALE_EPOCH', `${module}: epoch ${epoch}, this host holds ${held}`);
      },
      localVmDisks: async (module) => c.vmDisks.get(module) ?? null,
      onApplied: (module, epoch, generation) => {
        c.applied.push({ module, epoch, generation });
        for (const w of waiting.filter((x) => c.applied.length >= x.n)) w.resolve();
      },
      ...extra,
    }),
  };
  return c;
}
