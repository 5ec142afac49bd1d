import { expect } from 'chai';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadedConfig } from '../../src/config';
import { CycleBegin, CycleResult } from '../../src/agent/messages';
import { ReplicaSide } from '../../src/agent/replica-side';
import { StreamRouter } from '../../src/agent/stream-router';
import { ReplicaStore, createDelta } from '../../src/replication';
import { logSink, type LogLine } from '../helpers/log-sink';
import { connectedPair, type Pair } from '../helpers/peer-pair';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';
import { fakeCluster, secondaryConfig, type FakeCluster } from './replica-fixture';

// The secondary's bookkeeping stays bounded and honest: one rehash per module at a time (defect 13),
// outcomes nobody asks for expire (16), a replica that cannot be opened at start says why (15),
// and opening at start recovers whatever the role.

const SIZE = 64 * 1024;

describe('src/agent/replica-side (bounds)', function () {
  this.timeout(30_000);
  let pair: Pair;
  let cleanup: () => Promise<void>;
  let side: ReplicaSide;
  let config: LoadedConfig;
  let cluster: FakeCluster;
  let sink: ReturnType<typeof logSink>;
  let src: string;

  beforeEach(async () => {
    let dir: string;
    ({ dir, cleanup } = await tempDir());
    config = secondaryConfig(dir);
    cluster = fakeCluster();
    sink = logSink('debug');
    pair = await connectedPair();
    side = new ReplicaSide(config, cluster.options({ log: sink.logger }));
    const router = new StreamRouter((id, m, r) => side.acceptDelta(id, m, r));
    pair.server.onRequest(CycleBegin, (body, conn) => side.begin(body, conn));
    pair.server.onRequest(CycleResult, (body) => side.result(body));
    pair.server.onStream((id, r, info) => router.handle(id, r, info));
    src = join(dir, 'web1.img');
    const rnd = seeded('replica-side bounds source');
    await writeFile(src, Buffer.from(Array.from({ length: SIZE }, () => rnd.int(0, 255))));
  });
  afterEach(async () => {
    await pair.close();
    await side.close();
    await cleanup();
  });

  const begin = () => pair.clientConn.request(CycleBegin, { module: 'web1', epoch: 1, disks: [{ name: 'web1.img', sizeBytes: SIZE }], blockSize: 4096 });
  async function sendFull(streamId: string, generation: number): Promise<void> {
    const delta = await createDelta({ module: 'web1', streamId, blockSize: 4096, sources: [{ name: 'web1.img', path: src, mode: 'raw' }], replica: { generation, manifests: new Map([['web1.img', null]]) } });
    await pair.clientConn.sendStream(streamId, delta.stream, { meta: { kind: 'delta', module: 'web1' } });
  }
  async function until<T>(what: string, probe: () => T | null): Promise<T> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const v = probe();
      if (v !== null) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(10);
    }
  }
  const logged = (msg: string): LogLine | null => sink.lines.find((l) => l.msg === msg) ?? null;

  it('two cycle.begin during one slow rehash run one rehash, and both answer the rehashed state', async () => {
    const b1 = await begin();
    await sendFull(b1.streamId, 0);
    expect((await pair.clientConn.request(CycleResult, { module: 'web1', streamId: b1.streamId })).generation).to.equal(1);
    // Written behind vmmirror's back (resized): the next begin rehashes it.
    await appendFile(join(config.dir, 'replicas', 'web1.img'), Buffer.alloc(4096, 7));

    const original = ReplicaStore.prototype.rehash;
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inRehash = new Promise<void>((resolve) => (entered = resolve));
    ReplicaStore.prototype.rehash = async function (this: ReplicaStore, ...args: Parameters<typeof original>) {
      calls += 1;
      entered();
      await gate; // the rehash of a large replica: longer than the primary's begin timeout
      return original.apply(this, args);
    };
    try {
      const first = begin();
      await inRehash;
      const second = begin();
      await until('the second begin to join the running rehash', () => logged('cycle.begin waits for the preparation already running'));
      release();
      const [r1, r2] = await Promise.all([first, second]);
      expect(calls).to.equal(1);
      expect(r1.files[0]!.size).to.equal(SIZE + 4096);
      expect(r2.files).to.deep.equal(r1.files);
      expect(r2.streamId).to.not.equal(r1.streamId);
    } finally {
      ReplicaStore.prototype.rehash = original;
    }
  });

  it('keeps one unasked outcome per module, and drops it after its time to live', async () => {
    const b1 = await begin();
    await sendFull(b1.streamId, 0);
    await until('generation 1 applied', () => (side.summaries().get('web1')?.generation === 1 ? true : null));
    expect(side.pendingResults).to.equal(1);
    // The primary gave up on b1's result and ran its next cycle: b1's outcome goes.
    const b2 = await begin();
    await sendFull(b2.streamId, 1);
    await until('generation 2 applied', () => (side.summaries().get('web1')?.generation === 2 ? true : null));
    expect(side.pendingResults).to.equal(1);
    const gone = await pair.clientConn.request(CycleResult, { module: 'web1', streamId: b1.streamId }).then(() => null, (e: unknown) => e);
    expect((gone as { details?: { remoteCode?: string } }).details?.remoteCode).to.equal('PEER_PROTOCOL');
    expect((await pair.clientConn.request(CycleResult, { module: 'web1', streamId: b2.streamId })).generation).to.equal(2);
    expect(side.pendingResults).to.equal(0);

    // Time to live: a short one on a fresh side (same replica folder).
    await side.close();
    side = new ReplicaSide(config, cluster.options({ log: sink.logger, resultTtlMs: 50 }));
    const b3 = await begin();
    await sendFull(b3.streamId, 2);
    await until('generation 3 applied', () => (side.summaries().get('web1')?.generation === 3 ? true : null));
    await until('the unasked outcome to expire', () => (side.pendingResults === 0 ? true : null));
    expect(logged('outcome of a stream dropped: its cycle.result never came')).to.not.equal(null);
  });

  it('a replica that cannot be opened at start is logged with its code and kept as an open failure until a begin opens it', async () => {
    await mkdir(join(config.dataDir, 'state', 'web1'), { recursive: true });
    await writeFile(join(config.dataDir, 'state', 'web1', 'targets.json'), '{ not json');
    await mkdir(join(config.dataDir, 'state', 'web2'), { recursive: true });
    await writeFile(join(config.dataDir, 'state', 'web2', 'targets.json'), JSON.stringify([{ name: '../../evil.vhdx', path: '/x', maxBytes: 1 }]));
    // web2 is "auto": its names come from this host's VM, which names no such file.
    cluster.vmDisks.set('web2', [{ basePath: join(config.dir, 'vm', 'web2.vhdx'), sizeBytes: 1 << 20 }]);
    await mkdir(join(config.dataDir, 'state', 'web3'), { recursive: true });
    await writeFile(join(config.dataDir, 'state', 'web3', 'targets.json'), JSON.stringify([{ name: 'web3.vhdx', path: '/x', maxBytes: 1 }]));
    // "mine" runs here by default, yet a targets.json means it received once (after a failover): it is opened too.
    await mkdir(join(config.dataDir, 'state', 'mine'), { recursive: true });
    await writeFile(join(config.dataDir, 'state', 'mine', 'targets.json'), JSON.stringify([{ name: 'mine.vhdx', path: '/x', maxBytes: 1 }]));
    cluster.vmDisks.set('mine', [{ basePath: join(config.dir, 'vm', 'mine.vhdx'), sizeBytes: 1 << 20 }]);
    await side.openKnown();
    const failures = side.openFailures();
    expect([...failures].map(([m, f]) => [m, f.code])).to.deep.equal([['web1', 'REPLICA_INVALID'], ['web2', 'STREAM_WRONG_TARGET']]);
    const errors = sink.lines.filter((l) => l.msg === 'replica not opened at start; the next cycle.begin tries again');
    expect(errors.map((l) => [l.module, l.code, l.level])).to.deep.equal([['web1', 'REPLICA_INVALID', 50], ['web2', 'STREAM_WRONG_TARGET', 50]]);
    expect(side.generationOf('mine')).to.equal(0);
    expect(side.summaries().has('mine')).to.equal(true);
    // web3 (explicit, no MaxBytes, no VM here) opened with its recorded bound at this host's own path, never the recorded one.
    expect(side.generationOf('web3')).to.equal(0);
    expect(JSON.parse(await readFile(join(config.dataDir, 'state', 'web3', 'targets.json'), 'utf8'))).to.deep.equal([{ name: 'web3.vhdx', path: join(config.dir, 'replicas', 'web3.vhdx'), maxBytes: 1 }]);

    // The next cycle.begin rewrites the targets and clears the failure.
    expect((await begin()).generation).to.equal(0);
    expect(side.openFailures().has('web1')).to.equal(false);
  });
});
