import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CycleDeps } from '../../src/agent/cycle';
import { CycleBegin, CycleResult, ManifestFetch } from '../../src/agent/messages';
import { ReplicaSide } from '../../src/agent/replica-side';
import { localVmDisksVia } from '../../src/agent/replica-targets';
import { StreamRouter } from '../../src/agent/stream-router';
import { ViewKeeper } from '../../src/agent/views';
import type { LoadedConfig } from '../../src/config';
import { createSimulatedHost, createSimulatedHypervisor, createSimulatedVm, crashSimulatedHost, type SimulatedHypervisor } from '../../src/hypervisor/simulated';
import type { PeerConnection } from '../../src/peer';
import type { LinkOptions } from '../../src/peer/types';
import { createVhdx } from '../helpers/qemu';
import { logSink } from '../helpers/log-sink';
import { connectedPair, type Pair } from '../helpers/peer-pair';
import { tempDir } from '../helpers/tmp';
import { fakeCluster, testModule, type FakeCluster } from './replica-fixture';

// Two hosts in one process for the cycle's tests: "a" (the module's default primary) and "b",
// each with its own simulated hypervisor and its own registered VM of module web1 over its own
// copy of the disk (a at Path, b at ReplicaPath), its own data folder, ReplicaSide and stream
// router, joined by a real TLS pair. Either may send (runCycle with its deps) or receive.

export const MiB = 2 ** 20;

export interface CycleHost {
  name: 'a' | 'b';
  config: LoadedConfig;
  simDir: string;
  hv: SimulatedHypervisor;
  vmId: string;
  /** This host's own copy of web1's disk. */
  diskPath: string;
  /** What this host's cluster layer answers (the receiving gate) and its VM disks. */
  cluster: FakeCluster;
  side: ReplicaSide;
  views: ViewKeeper;
  deps: CycleDeps;
  log: ReturnType<typeof logSink>;
}

export interface CycleHosts {
  a: CycleHost;
  b: CycleHost;
  pair: Pair;
  cleanup(): Promise<void>;
}

export async function cycleHosts(o: { cycleTimeoutSeconds?: number; diskBytes?: number; link?: Partial<LinkOptions> } = {}): Promise<CycleHosts> {
  const t = await tempDir('vmmirror-cycle-');
  const pathA = join(t.dir, 'a', 'vms', 'web1.vhdx');
  const pathB = join(t.dir, 'b', 'copies', 'web1.vhdx');
  const pair = await connectedPair(o.link ?? {});
  // The pair's server is "a" and its client "b" (test/helpers/peer-pair.ts).
  const ends: Record<'a' | 'b', { conn: PeerConnection; handlers: Pair['server'] | Pair['client'] }> = {
    a: { conn: pair.serverConn, handlers: pair.server },
    b: { conn: pair.clientConn, handlers: pair.client },
  };
  const host = async (name: 'a' | 'b'): Promise<CycleHost> => {
    const simDir = join(t.dir, name, 'sim');
    const diskPath = name === 'a' ? pathA : pathB;
    await mkdir(join(diskPath, '..'), { recursive: true });
    await createVhdx(diskPath, { sizeBytes: o.diskBytes ?? 8 * MiB, subformat: 'dynamic', blockSizeBytes: MiB });
    await createSimulatedHost(simDir, { name });
    const vmId = await createSimulatedVm(simDir, { name: 'WEB1', disks: [{ path: diskPath, format: 'VHDX' }] });
    const hv = createSimulatedHypervisor(simDir);
    const entry = (n: string) => ({ Name: n, Address: '127.0.0.1', Port: 1, CertificateFingerprint: 'x' });
    const module = testModule('web1', 'a', [{ name: 'web1.vhdx', path: pathA, replicaPath: pathB, localPath: diskPath }]);
    module.vmName = 'WEB1';
    const config: LoadedConfig = {
      dir: join(t.dir, name),
      clusterName: 'lab',
      self: entry(name),
      peer: entry(name === 'a' ? 'b' : 'a'),
      hosts: [entry('a'), entry('b')],
      dataDir: join(t.dir, name, 'data'),
      modulesDir: join(t.dir, name, 'modules'),
      keyPath: '',
      certificatePath: '',
      tokenPath: '',
      agent: { HeartbeatIntervalMs: 1000, PeerLossTimeoutMs: 5000, MaxConcurrentCycles: 1, BandwidthLimitBytesPerSecond: null, CycleTimeoutSeconds: o.cycleTimeoutSeconds ?? 60, FailbackStableSeconds: 30, FailbackDamping: { MaxReturns: 3, WindowMinutes: 60 } },
      hypervisor: { Driver: 'simulated', Options: {} },
      modules: [module],
    };
    const cluster = fakeCluster();
    cluster.epochs.clear();
    const log = logSink('debug');
    const side = new ReplicaSide(config, cluster.options({ log: log.logger, localVmDisks: localVmDisksVia(hv, config) }));
    const router = new StreamRouter((id, m, r) => side.acceptDelta(id, m, r));
    const { conn, handlers } = ends[name];
    handlers.onRequest(CycleBegin, (body, c) => side.begin(body, c));
    handlers.onRequest(CycleResult, (body) => side.result(body));
    handlers.onRequest(ManifestFetch, (body, c) => side.sendManifest(body, c));
    handlers.onStream((id, r, info) => router.handle(id, r, info));
    const views = new ViewKeeper(hv, log.logger);
    const deps: CycleDeps = { config, hypervisor: hv, router, views, log: log.logger, connection: async () => conn };
    return { name, config, simDir, hv, vmId, diskPath, cluster, side, views, deps, log };
  };
  const a = await host('a');
  const b = await host('b');
  return {
    a,
    b,
    pair,
    async cleanup() {
      await pair.close();
      await a.side.close();
      await b.side.close();
      for (const h of [a, b]) await crashSimulatedHost(h.simDir).catch(() => undefined);
      await t.cleanup();
    },
  };
}
