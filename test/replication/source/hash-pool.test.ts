import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hashBlock } from '../../../src/replication/hash';
import { HashPool, type HashResult } from '../../../src/replication/source/hash-pool';
import { seeded } from '../../helpers/seed';
import { tempDir } from '../../helpers/tmp';

// A hash worker that dies must not leave requests hanging, and a worker's error code survives.

const B = 64 << 10;

type Outcome = { ok: true; r: HashResult } | { ok: false; code: string | undefined; message: string };
const outcome = (p: Promise<HashResult>): Promise<Outcome> =>
  p.then(
    (r) => ({ ok: true as const, r }),
    (e: unknown) => ({ ok: false as const, code: (e as { code?: string }).code, message: (e as Error).message }),
  );

describe('replication/source/hash-pool', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let file: string;
  let big: string;
  let bytes: Buffer;
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    const { rand, seed } = seeded('hash-pool');
    bytes = Buffer.alloc(8 * B);
    for (let i = 0; i < bytes.length; i += 4) bytes.writeUInt32LE(Math.floor(rand() * 2 ** 32), i);
    file = join(dir, `data-${seed}.raw`);
    await writeFile(file, bytes);
    // Reading and hashing 32 MiB takes milliseconds: far longer than the instant between posting and killing.
    big = join(dir, 'big.raw');
    await writeFile(big, Buffer.alloc(32 << 20, 0x61));
  });
  after(() => cleanup());

  const request = { offset: 0, length: 8 * B, blockSize: B, old: null, wantData: false };
  const expected = (): Buffer => Buffer.concat(Array.from({ length: 8 }, (_, i) => hashBlock(bytes.subarray(i * B, (i + 1) * B))));

  it('rejects the requests of a worker that is killed, with a code, then serves new requests on its replacement', async () => {
    const pool = new HashPool(2);
    try {
      const dead = pool.threads[0]!;
      // Posted and killed in the same tick, before the worker can answer: its requests are lost with it.
      const slow = { path: big, offset: 0, length: 32 << 20, blockSize: B, old: null, wantData: false };
      const lost = [outcome(pool.hash(slow)), outcome(pool.hash({ path: file, ...request })), outcome(pool.hash(slow))];
      const killed = dead.terminate();
      const settled = await Promise.race([Promise.all(lost), new Promise<'hung'>((r) => setTimeout(() => r('hung'), 20_000))]);
      await killed;
      expect(settled, 'every request settles').to.not.equal('hung');
      const results = settled as Outcome[];
      // Requests 0 and 2 went to the killed worker, request 1 to the live one.
      expect(results.map((o) => (o.ok ? 'ok' : o.code))).to.deep.equal(['INTERNAL', 'ok', 'INTERNAL']);
      expect((results[0] as { message: string }).message).to.match(/scan worker died/);
      expect((results[1] as { r: HashResult }).r.hashes.equals(expected())).to.equal(true);
      expect(pool.threads[0]).to.not.equal(dead);
      const again = await Promise.all([pool.hash({ path: file, ...request }), pool.hash({ path: file, ...request })]);
      for (const r of again) expect(r.hashes.equals(expected())).to.equal(true);
    } finally {
      await pool.close();
    }
  });

  it('fails cleanly (every request, now and later) when even a replacement worker dies before answering', async () => {
    const pool = new HashPool(1);
    try {
      const first = outcome(pool.hash({ path: file, ...request }));
      await pool.threads[0]!.terminate();
      expect((await first).ok).to.equal(false);
      const second = outcome(pool.hash({ path: file, ...request }));
      await pool.threads[0]!.terminate(); // the replacement, before its first answer
      const [a, b] = await Promise.all([second, outcome(pool.hash({ path: file, ...request }))]);
      expect([a, b].map((o) => (o.ok ? 'ok' : o.code))).to.deep.equal(['INTERNAL', 'INTERNAL']);
      expect((b as { message: string }).message).to.match(/keep dying/);
    } finally {
      await pool.close();
    }
  });

  it('keeps the code of a worker error: a missing file is FILE_NOT_FOUND, a file that shrinks is SOURCE_CHANGED', async () => {
    const pool = new HashPool(1);
    try {
      const missing = await outcome(pool.hash({ path: join(dir, 'no-such-file'), ...request }));
      expect(missing.ok ? 'ok' : missing.code).to.equal('FILE_NOT_FOUND');
      const short = join(dir, 'short.raw');
      await writeFile(short, bytes.subarray(0, 3 * B));
      const shrank = await outcome(pool.hash({ path: short, ...request }));
      expect(shrank.ok ? 'ok' : shrank.code).to.equal('SOURCE_CHANGED');
      expect((await pool.hash({ path: file, ...request })).hashes.equals(expected())).to.equal(true);
    } finally {
      await pool.close();
    }
  });

  it('rejects requests still in flight when it is closed', async () => {
    const pool = new HashPool(1);
    const p = outcome(pool.hash({ path: file, ...request }));
    await pool.close();
    const o = await p;
    expect(o.ok ? 'ok' : o.code).to.equal('CANCELLED');
    expect(await outcome(pool.hash({ path: file, ...request })).then((x) => (x.ok ? 'ok' : x.code))).to.equal('CANCELLED');
  });
});
