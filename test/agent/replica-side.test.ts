import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { LoadedConfig } from '../../src/config';
import { CycleBegin, CycleResult } from '../../src/agent/messages';
import { ReplicaSide, replicaTargets } from '../../src/agent/replica-side';
import { StreamRouter } from '../../src/agent/stream-router';
import { hasCode } from '../../src/errors';
import { createDelta } from '../../src/replication';
import { connectedPair, type Pair } from '../helpers/peer-pair';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';
import { secondaryConfig } from './replica-fixture';

// The secondary's handlers over a real TLS pair: what the primary may and may not make it do.

describe('src/agent/replica-side', function () {
  this.timeout(30_000);
  let pair: Pair;
  let dir: string;
  let cleanup: () => Promise<void>;
  let side: ReplicaSide;
  let config: LoadedConfig;

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    config = secondaryConfig(dir);
    pair = await connectedPair();
    side = new ReplicaSide(config);
    const router = new StreamRouter((id, m, r) => side.acceptDelta(id, m, r));
    pair.server.onRequest(CycleBegin, (body, conn) => side.begin(body, conn));
    pair.server.onRequest(CycleResult, (body) => side.result(body));
    pair.server.onStream((id, r, info) => router.handle(id, r, info));
  });
  afterEach(async () => {
    await pair.close();
    await side.close();
    await cleanup();
  });

  async function refused(body: { module: string; disks: Array<{ name: string; sizeBytes: number }>; blockSize?: number }, code: string): Promise<void> {
    const err = await pair.clientConn.request(CycleBegin, { blockSize: 4096, ...body }).then(() => null, (e: unknown) => e);
    expect(err, `expected ${code}`).to.be.instanceOf(Error);
    expect((err as { code: string; details: { remoteCode?: string } }).details?.remoteCode ?? (err as { code: string }).code).to.equal(code);
  }

  it('refuses an unknown module, a module it is primary of, foreign disk names, unsafe auto names and a different block size, writing nothing', async () => {
    await refused({ module: 'nope', disks: [{ name: 'a.img', sizeBytes: 1 }] }, 'STREAM_WRONG_TARGET');
    await refused({ module: 'mine', disks: [{ name: 'a.vhdx', sizeBytes: 1 }] }, 'STREAM_WRONG_TARGET');
    await refused({ module: 'web1', disks: [{ name: 'other.img', sizeBytes: 1 }] }, 'STREAM_WRONG_TARGET');
    await refused({ module: 'web2', disks: [{ name: '../../etc/evil.vhdx', sizeBytes: 1 }] }, 'STREAM_WRONG_TARGET');
    await refused({ module: 'web2', disks: [{ name: 'C:\\evil.vhdx', sizeBytes: 1 }] }, 'STREAM_WRONG_TARGET');
    await refused({ module: 'web1', disks: [{ name: 'web1.img', sizeBytes: 1 }], blockSize: 8192 }, 'CONFIG_INVALID');
    expect(await readdir(dir)).to.deep.equal([]);
  });

  it('keeps "auto" replicas inside its own replica folder and bounds explicit ones by MaxBytes', () => {
    const [auto] = replicaTargets(config, config.modules[1]!, [{ name: 'disk 0.vhdx', sizeBytes: 5000 }]);
    expect(auto).to.deep.equal({ name: 'disk 0.vhdx', path: join(config.dataDir, 'replicas', 'web2', 'disk 0.vhdx'), maxBytes: 5000 });
    const [explicit] = replicaTargets(config, config.modules[0]!, [{ name: 'web1.img', sizeBytes: 1 << 30 }]);
    expect(explicit!.maxBytes).to.equal(1 << 20);
  });

  it('refuses a stream on a nonce issued for another module, then still applies the real one', async () => {
    const src = join(dir, 'web1.img');
    const rnd = seeded('replica-side source');
    await writeFile(src, Buffer.from(Array.from({ length: 64 * 1024 }, () => rnd.int(0, 255))));
    const begin = await pair.clientConn.request(CycleBegin, { module: 'web1', disks: [{ name: 'web1.img', sizeBytes: 64 * 1024 }], blockSize: 4096 });
    expect(begin.generation).to.equal(0);
    // The nonce belongs to web1: a stream claiming web2 on it is refused (the sender sees an abort).
    const wrong = await pair.clientConn.sendStream(begin.streamId, Readable.from([randomBytes(1000)]), { meta: { kind: 'delta', module: 'web2' } }).then(() => null, (e: unknown) => e);
    expect(hasCode(wrong, 'STREAM_REPLAYED'), String(wrong)).to.equal(true);
    // Metadata failing its schema is refused too.
    const again = await pair.clientConn.request(CycleBegin, { module: 'web1', disks: [{ name: 'web1.img', sizeBytes: 64 * 1024 }], blockSize: 4096 });
    const bad = await pair.clientConn.sendStream(again.streamId, Readable.from([randomBytes(10)]), { meta: { kind: 'delta', module: '../x' } }).then(() => null, (e: unknown) => e);
    expect(hasCode(bad, 'PEER_PROTOCOL'), String(bad)).to.equal(true);
    expect(hasCode(await pair.clientConn.request(CycleResult, { module: 'web1', streamId: again.streamId }).then(() => null, (e: unknown) => e), 'PEER_PROTOCOL')).to.equal(true);

    const real = await pair.clientConn.request(CycleBegin, { module: 'web1', disks: [{ name: 'web1.img', sizeBytes: 64 * 1024 }], blockSize: 4096 });
    const delta = await createDelta({ module: 'web1', streamId: real.streamId, blockSize: 4096, sources: [{ name: 'web1.img', path: src, mode: 'raw' }], replica: { generation: 0, manifests: new Map([['web1.img', null]]) } });
    await pair.clientConn.sendStream(real.streamId, delta.stream, { meta: { kind: 'delta', module: 'web1' } });
    const ack = await pair.clientConn.request(CycleResult, { module: 'web1', streamId: real.streamId });
    expect(ack.generation).to.equal(1);
    expect(await readFile(join(dir, 'replicas', 'web1.img'))).to.deep.equal(await readFile(src));
    // The same nonce cannot be used twice.
    const replay = await pair.clientConn.sendStream(real.streamId, Readable.from([Buffer.alloc(10)]), { meta: { kind: 'delta', module: 'web1' } }).then(() => null, (e: unknown) => e);
    expect(hasCode(replay, 'PEER_REFUSED'), String(replay)).to.equal(true);
    expect((replay as { details?: { reason?: string } }).details?.reason).to.equal('stream-replayed');
    expect(side.summaries().get('web1')?.generation).to.equal(1);
  });
});
