import { expect } from 'chai';
import { createReadStream, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ManifestFetch } from '../../src/agent/messages';
import { manifestFetcher } from '../../src/agent/sender-cache';
import { StreamRouter } from '../../src/agent/stream-router';
import { hasCode } from '../../src/errors';
import { connectedPair, type Pair } from '../helpers/peer-pair';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';

// Every stream is read to its end or destroyed, on every path (defect 12): a stream nobody owns
// keeps a file open on the sender until the link drops. Judged by this process's open descriptors.

const openFds = (): number => readdirSync('/proc/self/fd').length;

async function fdsBackTo(baseline: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (openFds() > baseline) {
    if (Date.now() > deadline) throw new Error(`${openFds() - baseline} file descriptors still open`);
    await sleep(20);
  }
}

describe('src/agent streams (ownership)', function () {
  this.timeout(30_000);
  let pair: Pair;
  let file: string;
  let cleanup: () => Promise<void>;

  beforeEach(async () => {
    let dir: string;
    ({ dir, cleanup } = await tempDir());
    file = join(dir, 'manifest.bin');
    const rnd = seeded('stream ownership manifest');
    // Larger than the link's credit window, so an unread stream stalls on the sender, file open.
    await writeFile(file, Buffer.from(Array.from({ length: 8 * 1024 * 1024 }, () => rnd.int(0, 255))));
    pair = await connectedPair();
  });
  afterEach(async () => {
    await pair.close();
    await cleanup();
  });

  it('MANIFEST_MISMATCH destroys the manifest stream that came, and the sender closes its file', async () => {
    const baseline = openFds();
    let sending: Promise<unknown> | undefined;
    pair.server.onRequest(ManifestFetch, (body, conn) => {
      sending = conn.sendStream(body.streamId, createReadStream(file), { meta: { kind: 'manifest', module: body.module, name: body.name } }).then(() => 'read', (e: unknown) => e);
      return { generation: 1, manifestDigest: 'f'.repeat(64) };
    });
    const router = new StreamRouter(() => undefined);
    pair.client.onStream((id, r, info) => router.handle(id, r, info));
    const fetcher = manifestFetcher({ conn: pair.clientConn, router, module: 'web1', digests: new Map([['web1.vhdx', '0'.repeat(64)]]), timeoutMs: () => 5000, signal: new AbortController().signal });
    const err = await fetcher.fetch('web1.vhdx').then(() => null, (e: unknown) => e);
    expect(hasCode(err, 'MANIFEST_MISMATCH'), String(err)).to.equal(true);
    expect(sending).to.not.equal(undefined);
    const outcome = await sending!;
    expect(outcome, 'the sender saw the stream abandoned, not read').to.be.instanceOf(Error);
    expect(router.awaited).to.equal(0);
    await fdsBackTo(baseline);
  });

  it('a stream that opens after its wait was cancelled is destroyed', async () => {
    const router = new StreamRouter(() => undefined);
    pair.client.onStream((id, r, info) => router.handle(id, r, info));
    const id = pair.clientConn.issueStreamId();
    const waiting = router.expect(id, 5000);
    router.cancel(id, new Error('gave up'));
    expect(await waiting.then(() => null, (e: unknown) => (e as Error).message)).to.equal('gave up');
    const baseline = openFds();
    const sent = await pair.serverConn.sendStream(id, createReadStream(file), { meta: { kind: 'manifest', module: 'web1', name: 'x.vhdx' } }).then(() => null, (e: unknown) => e);
    expect(sent).to.be.instanceOf(Error);
    await fdsBackTo(baseline);
  });

  it('sendStream destroys its readable when it refuses before sending (bad id, closed link)', async () => {
    const baseline = openFds();
    const bad = createReadStream(file);
    const e1 = await pair.clientConn.sendStream('not-a-stream-id', bad).then(() => null, (e: unknown) => e);
    expect(hasCode(e1, 'PEER_PROTOCOL'), String(e1)).to.equal(true);
    expect(bad.destroyed).to.equal(true);
    const id = pair.serverConn.issueStreamId();
    pair.clientConn.close();
    const late = createReadStream(file);
    const e2 = await pair.clientConn.sendStream(id, late).then(() => null, (e: unknown) => e);
    expect(hasCode(e2, 'PEER_UNREACHABLE'), String(e2)).to.equal(true);
    expect(late.destroyed).to.equal(true);
    await fdsBackTo(baseline);
  });
});
