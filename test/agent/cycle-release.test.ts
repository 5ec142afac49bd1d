import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CycleBegin, CycleResult } from '../../src/agent/messages';
import { ReplicaSide, replicaStateDir } from '../../src/agent/replica-side';
import { writeTargets } from '../../src/agent/replica-targets';
import { StreamRouter } from '../../src/agent/stream-router';
import type { LoadedConfig } from '../../src/config';
import { ReplicaStore, createDelta } from '../../src/replication';
import { runChild } from '../replication/crash-tools';
import { connectedPair, type Pair } from '../helpers/peer-pair';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';
import { fakeCluster, secondaryConfig, testModule, type FakeCluster } from './replica-fixture';

// A takeover's release (issue 8, "finish any committed journal"): the receiving side lets go of a
// module's files before the VM runs on them, applying what was committed and nothing else.

const SIZE = 64 * 4096;

describe('src/agent/replica-side release (takeover)', function () {
  this.timeout(120_000);
  let dir: string;
  let cleanup: () => Promise<void>;
  let config: LoadedConfig;
  let cluster: FakeCluster;
  let side: ReplicaSide;
  let src: string;

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    config = secondaryConfig(dir);
    cluster = fakeCluster();
    src = join(dir, 'disk.raw');
    const rnd = seeded('cycle-release source');
    process.stderr.write(`      (seed ${rnd.seed})\n`);
    await writeFile(src, Buffer.from(Array.from({ length: SIZE }, () => rnd.int(0, 255))));
  });
  afterEach(async () => {
    await side?.close();
    await cleanup();
  });

  it('applies a journal committed by a receiver killed right after its commit, then lets go of the files', async () => {
    // The receiving process: one cycle into rep/, SIGKILLed by its own crashpoint just after the commit record.
    const rep = join(dir, 'rep');
    await mkdir(rep);
    const child = join(__dirname, '..', 'replication', 'fixtures', 'cycle-child.ts');
    const killed = await runChild(process.execPath, ['-r', 'ts-node/register', child, src, rep, join(dir, 'cache')], { TS_NODE_TRANSPILE_ONLY: 'true', VMMIRROR_CRASHPOINT: 'after-commit:1' });
    expect(killed.signal, killed.stderr).to.equal('SIGKILL');
    expect(existsSync(join(rep, '.vmmirror', 'journal.commit')), 'the kill left a committed journal').to.equal(true);
    expect(await readFile(join(rep, 'disk.raw')).catch(() => Buffer.alloc(0))).to.not.deep.equal(await readFile(src));

    // The same replica, as this host's agent keeps it for module "crash" (its state folder and targets).
    const localPath = join(rep, 'disk.raw');
    config.modules.push(testModule('crash', 'b', [{ name: 'disk.raw', path: '/src/disk.raw', replicaPath: localPath, localPath, maxBytes: 1 << 30 }]));
    await mkdir(join(config.dataDir, 'state', 'crash'), { recursive: true });
    await rename(join(rep, '.vmmirror'), replicaStateDir(config, 'crash'));
    await writeTargets(config, 'crash', [{ name: 'disk.raw', path: '/recorded/elsewhere', maxBytes: 1 << 30 }]);
    // The cluster took the module over: this host no longer receives it.
    cluster.epochs.delete('crash');
    side = new ReplicaSide(config, cluster.options());
    expect(side.generationOf('crash')).to.equal(null);

    expect(await side.release('crash')).to.deep.equal({ generation: 1 });
    expect(await readFile(localPath)).to.deep.equal(await readFile(src));
    expect(existsSync(join(replicaStateDir(config, 'crash'), 'journal.commit'))).to.equal(false);
    expect(side.generationOf('crash')).to.equal(1);
    expect(side.summaries().has('crash')).to.equal(false);
    // Released means unlocked: anyone may open it now, and it holds generation 1 with nothing left to recover.
    const store = await ReplicaStore.open({ stateDir: replicaStateDir(config, 'crash'), module: 'crash', targets: [{ name: 'disk.raw', path: localPath, maxBytes: 1 << 30 }], blockSize: 4096 });
    expect(store.recovery).to.deep.equal({ action: 'none', generation: 1 });
    await store.close();
  });

  describe('over the link', () => {
    let pair: Pair;
    beforeEach(async () => {
      config.modules[0] = testModule('web1', 'b', [{ name: 'web1.img', path: '/src/web1.img', replicaPath: join(dir, 'replicas', 'web1.img'), localPath: join(dir, 'replicas', 'web1.img'), maxBytes: 1 << 20 }]);
      pair = await connectedPair();
      side = new ReplicaSide(config, cluster.options());
      const router = new StreamRouter((id, m, r) => side.acceptDelta(id, m, r));
      pair.server.onRequest(CycleBegin, (body, conn) => side.begin(body, conn));
      pair.server.onRequest(CycleResult, (body) => side.result(body));
      pair.server.onStream((id, r, info) => router.handle(id, r, info));
    });
    afterEach(async () => pair.close());

    const begin = () => pair.clientConn.request(CycleBegin, { module: 'web1', epoch: 1, disks: [{ name: 'web1.img', sizeBytes: SIZE }], blockSize: 4096 });
    async function deltaBytes(streamId: string, generation: number): Promise<Buffer> {
      const delta = await createDelta({ module: 'web1', streamId, blockSize: 4096, sources: [{ name: 'web1.img', path: src, mode: 'raw' }], replica: { generation, manifests: new Map([['web1.img', null]]) } });
      const parts: Buffer[] = [];
      for await (const c of delta.stream) parts.push(c as Buffer);
      return Buffer.concat(parts);
    }

    it('waits for the receive in flight to end by its own outcome, and a later begin opens the replica again', async () => {
      const b = await begin();
      const bytes = await deltaBytes(b.streamId, 0);
      // The stream arrives in two parts; the test holds the second back.
      const held = new Readable({ read() {} });
      let firstChunkGated!: () => void;
      const gatedOnce = new Promise<void>((resolve) => (firstChunkGated = resolve));
      let asks = 0;
      cluster.onGate = (module) => {
        if (module === 'web1' && ++asks === 2) firstChunkGated();
      };
      const sending = pair.clientConn.sendStream(b.streamId, held, { meta: { kind: 'delta', module: 'web1' } }).then(() => null, (e: unknown) => e);
      held.push(bytes.subarray(0, bytes.length >> 1));
      await gatedOnce;

      let releasedWith: { generation: number } | null = null;
      const releasing = side.release('web1').then((r) => (releasedWith = r));
      // Nothing can end the receive but its stream: the release is still waiting once every pending callback ran.
      await new Promise((r) => setImmediate(r));
      expect(releasedWith).to.equal(null);

      // The takeover happened: the next chunk is refused, the receive fails, the release goes on.
      cluster.epochs.delete('web1');
      held.push(bytes.subarray(bytes.length >> 1));
      held.push(null);
      await releasing;
      expect(releasedWith).to.deep.equal({ generation: 0 });
      expect(await sending).to.be.instanceOf(Error);
      expect(cluster.applied).to.deep.equal([]);
      expect(side.summaries().has('web1')).to.equal(false);
      cluster.onGate = undefined;

      // Back to receiving at a later epoch: the begin re-opens the store, and a cycle applies.
      cluster.epochs.set('web1', 1);
      const again = await begin();
      expect(again.generation).to.equal(0);
      await pair.clientConn.sendStream(again.streamId, Readable.from([await deltaBytes(again.streamId, 0)]), { meta: { kind: 'delta', module: 'web1' } });
      expect((await pair.clientConn.request(CycleResult, { module: 'web1', streamId: again.streamId })).generation).to.equal(1);
      expect(await readFile(join(dir, 'replicas', 'web1.img'))).to.deep.equal(await readFile(src));
    });
  });
});
