import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { LoadedConfig } from '../../src/config';
import { CycleBegin, CycleResult } from '../../src/agent/messages';
import { ReplicaSide, replicaTargets } from '../../src/agent/replica-side';
import { vhdxFileBound } from '../../src/agent/replica-targets';
import { StreamRouter } from '../../src/agent/stream-router';
import { hasCode } from '../../src/errors';
import { createDelta } from '../../src/replication';
import { connectedPair, type Pair } from '../helpers/peer-pair';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';
import { fakeCluster, secondaryConfig, type FakeCluster } from './replica-fixture';

// The receiver's handlers over a real TLS pair: what the sender may and may not make it do.

const SIZE = 256 * 1024;

describe('src/agent/replica-side', function () {
  this.timeout(30_000);
  let pair: Pair;
  let dir: string;
  let cleanup: () => Promise<void>;
  let side: ReplicaSide;
  let config: LoadedConfig;
  let cluster: FakeCluster;
  let src: string;

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    config = secondaryConfig(dir);
    cluster = fakeCluster();
    pair = await connectedPair();
    side = new ReplicaSide(config, cluster.options());
    const router = new StreamRouter((id, m, r) => side.acceptDelta(id, m, r));
    pair.server.onRequest(CycleBegin, (body, conn) => side.begin(body, conn));
    pair.server.onRequest(CycleResult, (body) => side.result(body));
    pair.server.onStream((id, r, info) => router.handle(id, r, info));
    src = join(dir, 'web1.img');
    const rnd = seeded('replica-side source');
    process.stderr.write(`      (seed ${rnd.seed})\n`);
    await writeFile(src, Buffer.from(Array.from({ length: SIZE }, () => rnd.int(0, 255))));
  });
  afterEach(async () => {
    await pair.close();
    await side.close();
    await cleanup();
  });

  type Body = { module: string; epoch?: number; disks: Array<{ name: string; sizeBytes: number }>; blockSize?: number };
  const request = (body: Body) => pair.clientConn.request(CycleBegin, { blockSize: 4096, epoch: 1, ...body });
  async function refused(body: Body, code: string, message?: RegExp): Promise<void> {
    const err = await request(body).then(() => null, (e: unknown) => e);
    expect(err, `expected ${code}`).to.be.instanceOf(Error);
    expect((err as { code: string }).code, String(err)).to.equal(code);
    if (message !== undefined) expect((err as Error).message).to.match(message);
  }
  const web1 = (sizeBytes = SIZE) => ({ module: 'web1', disks: [{ name: 'web1.img', sizeBytes }] });
  async function sendFull(streamId: string, generation: number): Promise<unknown> {
    const delta = await createDelta({ module: 'web1', streamId, blockSize: 4096, sources: [{ name: 'web1.img', path: src, mode: 'raw' }], replica: { generation, manifests: new Map([['web1.img', null]]) } });
    return pair.clientConn.sendStream(streamId, delta.stream, { meta: { kind: 'delta', module: 'web1' } }).then(() => null, (e: unknown) => e);
  }

  it('refuses, writing nothing: an unknown module, one it must not receive, a stale epoch, foreign disk names, a different block size, an announced size above the bound', async () => {
    await refused({ module: 'nope', disks: [{ name: 'a.img', sizeBytes: 1 }] }, 'STREAM_WRONG_TARGET');
    await refused({ module: 'mine', disks: [{ name: 'a.vhdx', sizeBytes: 1 }] }, 'MODULE_NOT_SECONDARY');
    await refused({ ...web1(), epoch: 0 }, 'STALE_EPOCH');
    await refused({ ...web1(), epoch: 2 }, 'STALE_EPOCH');
    await refused({ module: 'web1', disks: [{ name: 'other.img', sizeBytes: 1 }] }, 'STREAM_WRONG_TARGET');
    await refused({ module: 'web1', disks: [{ name: 'web1.img', sizeBytes: 1 }, { name: 'web1.img', sizeBytes: 1 }] }, 'STREAM_WRONG_TARGET');
    await refused({ ...web1(), blockSize: 8192 }, 'CONFIG_INVALID');
    await refused(web1((1 << 20) + 1), 'STREAM_OUT_OF_RANGE', /above this host's bound of 1048576; raise MaxBytes for disk web1\.img in modules\/web1\.json/);
    expect(cluster.asked.map((a) => `${a.module}@${a.epoch}`)).to.deep.equal(['mine@1', 'web1@0', 'web1@2', 'web1@1', 'web1@1', 'web1@1', 'web1@1']);
    expect(await readdir(dir)).to.deep.equal(['web1.img']); // only the test's own source
  });

  it('without its own VM, refuses Disks "auto" and a disk without MaxBytes with CONFIG_INVALID naming the fix; never takes a name or a size from the wire', async () => {
    await refused({ module: 'web2', disks: [{ name: 'disk0.vhdx', sizeBytes: 1 }] }, 'CONFIG_INVALID', /list the disks in the module file \(modules\/web2\.json\)/);
    await refused({ module: 'web2', disks: [{ name: '../../etc/evil.vhdx', sizeBytes: 1 }] }, 'CONFIG_INVALID');
    await refused({ module: 'web3', disks: [{ name: 'web3.vhdx', sizeBytes: 1 }] }, 'CONFIG_INVALID', /set MaxBytes for disk web3\.vhdx in modules\/web3\.json, or register the replica VM/);
    // With a VM here: names are the VM's disk file names, paths its disks' own, bounds from their virtual sizes.
    cluster.vmDisks.set('web2', [{ basePath: join(dir, 'vm', 'disk 0.vhdx'), sizeBytes: 8 << 20 }]);
    await refused({ module: 'web2', disks: [{ name: '../../etc/evil.vhdx', sizeBytes: 1 }] }, 'STREAM_WRONG_TARGET');
    await refused({ module: 'web2', disks: [{ name: 'C:\\evil.vhdx', sizeBytes: 1 }] }, 'STREAM_WRONG_TARGET');
    await refused({ module: 'web2', disks: [{ name: 'disk 0.vhdx', sizeBytes: vhdxFileBound(8 << 20) + 1 }] }, 'STREAM_OUT_OF_RANGE');
    expect(await readdir(dir)).to.deep.equal(['web1.img']);
    const ok = await request({ module: 'web2', disks: [{ name: 'disk 0.vhdx', sizeBytes: 9 << 20 }] });
    expect(ok.files.map((f) => f.name)).to.deep.equal(['disk 0.vhdx']);
  });

  it('derives targets from this host only: localPath and MaxBytes, or the VM disk at localPath with VHDX overhead', () => {
    const [web1t] = replicaTargets(config.modules[0]!, null, [{ name: 'web1.img', sizeBytes: 5000 }]);
    expect(web1t).to.deep.equal({ name: 'web1.img', path: join(dir, 'replicas', 'web1.img'), maxBytes: 1 << 20 });
    const web3 = config.modules[2]!;
    const vm = [{ basePath: join(dir, 'replicas', 'web3.vhdx'), sizeBytes: 127 * 2 ** 30 }];
    const [web3t] = replicaTargets(web3, vm, [{ name: 'web3.vhdx', sizeBytes: 5000 }]);
    expect(web3t!.path).to.equal(join(dir, 'replicas', 'web3.vhdx'));
    // 127 GiB: payload rounded to 256 MiB blocks (+0), 32 bitmap blocks, 1 MiB of BAT, 64 MiB of headers/log/metadata.
    expect(web3t!.maxBytes).to.equal(127 * 2 ** 30 + (32 + 1 + 64) * 2 ** 20);
    // The VM here has its disk elsewhere: not a bound for this configured disk.
    expect(() => replicaTargets(web3, [{ basePath: '/elsewhere/web3.vhdx', sizeBytes: 1 << 30 }], [{ name: 'web3.vhdx', sizeBytes: 1 }])).to.throw(/its VM here has no disk at .*web3\.vhdx/);
  });

  it('refuses a stream on a nonce issued for another module, applies the real one, and answers at the cycle\'s epoch', async () => {
    const begin = await request(web1());
    expect(begin).to.deep.include({ generation: 0, epoch: 1 });
    // The nonce belongs to web1: a stream claiming web2 on it is refused (the sender sees an abort).
    const wrong = await pair.clientConn.sendStream(begin.streamId, Readable.from([randomBytes(1000)]), { meta: { kind: 'delta', module: 'web2' } }).then(() => null, (e: unknown) => e);
    expect(hasCode(wrong, 'STREAM_REPLAYED'), String(wrong)).to.equal(true);
    // Metadata failing its schema is refused too.
    const again = await request(web1());
    const bad = await pair.clientConn.sendStream(again.streamId, Readable.from([randomBytes(10)]), { meta: { kind: 'delta', module: '../x' } }).then(() => null, (e: unknown) => e);
    expect(hasCode(bad, 'PEER_PROTOCOL'), String(bad)).to.equal(true);
    expect(hasCode(await pair.clientConn.request(CycleResult, { module: 'web1', streamId: again.streamId }).then(() => null, (e: unknown) => e), 'PEER_PROTOCOL')).to.equal(true);

    const real = await request(web1());
    expect(await sendFull(real.streamId, 0)).to.equal(null);
    const ack = await pair.clientConn.request(CycleResult, { module: 'web1', streamId: real.streamId });
    expect(ack).to.deep.include({ generation: 1, epoch: 1 });
    expect(await readFile(join(dir, 'replicas', 'web1.img'))).to.deep.equal(await readFile(src));
    expect(cluster.applied).to.deep.equal([{ module: 'web1', epoch: 1, generation: 1 }]);
    expect(side.generationOf('web1')).to.equal(1);
    expect(side.generationOf('web2')).to.equal(null);
    // The same nonce cannot be used twice.
    const replay = await pair.clientConn.sendStream(real.streamId, Readable.from([Buffer.alloc(10)]), { meta: { kind: 'delta', module: 'web1' } }).then(() => null, (e: unknown) => e);
    expect(hasCode(replay, 'PEER_REFUSED'), String(replay)).to.equal(true);
    expect((replay as { details?: { reason?: string } }).details?.reason).to.equal('stream-replayed');
    expect(side.summaries().get('web1')?.generation).to.equal(1);
  });

  it('asks the gate again when the stream arrives and on its chunks: a takeover in between or mid-stream commits nothing', async () => {
    // Moved on between the begin and the stream.
    const b1 = await request(web1());
    cluster.epochs.set('web1', 2);
    expect(hasCode(await sendFull(b1.streamId, 0), 'STALE_EPOCH')).to.equal(true);
    expect(hasCode(await pair.clientConn.request(CycleResult, { module: 'web1', streamId: b1.streamId }).then(() => null, (e: unknown) => e), 'PEER_PROTOCOL')).to.equal(true);

    // Moved on once the stream flows: the arrival passes the gate, its first chunk does not.
    const b2 = await request({ ...web1(), epoch: 2 });
    let asks = 0;
    cluster.onGate = (module, epoch) => {
      if (module === 'web1' && epoch === 2 && ++asks === 2) cluster.epochs.delete('web1');
    };
    const sent = await sendFull(b2.streamId, 0);
    cluster.onGate = undefined;
    expect(asks, 'asked at the arrival and again on a chunk').to.equal(2);
    expect(sent, 'the sender sees the stream fail').to.be.instanceOf(Error);
    const r2 = await pair.clientConn.request(CycleResult, { module: 'web1', streamId: b2.streamId }).then(() => null, (e: unknown) => e);
    expect(r2).to.be.instanceOf(Error);
    expect(side.generationOf('web1')).to.equal(0);
    expect(cluster.applied).to.deep.equal([]);
    expect((await readdir(join(config.dataDir, 'state', 'web1', 'replica'))).filter((f) => f.startsWith('journal'))).to.deep.equal([]);
  });

  it('an apply that finished before this host moved on is kept, but its acknowledgement is refused (the sender keeps its view uncommitted)', async () => {
    const b = await request(web1());
    expect(await sendFull(b.streamId, 0)).to.equal(null);
    // The outcome settles on its own; wait for it through the onApplied event, not time.
    await cluster.appliedCount(1);
    cluster.epochs.set('web1', 3);
    const ack = await pair.clientConn.request(CycleResult, { module: 'web1', streamId: b.streamId }).then(() => null, (e: unknown) => e);
    expect(hasCode(ack, 'STALE_EPOCH'), String(ack)).to.equal(true);
    expect(side.generationOf('web1')).to.equal(1);
    expect(await readFile(join(dir, 'replicas', 'web1.img'))).to.deep.equal(await readFile(src));
  });
});
