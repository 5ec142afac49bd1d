import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasCode } from '../../../src/errors';
import { ReplicaStore } from '../../../src/replication';
import { acquireLock } from '../../../src/replication/replica/lock';
import { tempDir } from '../../helpers/tmp';

describe('replication/replica/lock', () => {
  it('lets only one of two concurrent takers hold the lock', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const results = await Promise.allSettled([acquireLock(join(dir, 'lock')), acquireLock(join(dir, 'lock'))]);
      const held = results.filter((r) => r.status === 'fulfilled');
      const refused = results.filter((r) => r.status === 'rejected' && hasCode(r.reason, 'REPLICA_LOCKED'));
      expect([held.length, refused.length]).to.deep.equal([1, 1]);
      for (const r of held) await (r as PromiseFulfilledResult<() => Promise<void>>).value();
    } finally {
      await cleanup();
    }
  });

  it('refuses a second open of a replica folder by the same process while the first is open', async () => {
    const { dir, cleanup } = await tempDir();
    const options = { stateDir: join(dir, 'state'), module: 'm', targets: [{ name: 'a.raw', path: join(dir, 'a.raw'), maxBytes: 1 << 20 }] };
    const first = await ReplicaStore.open(options);
    try {
      let code: string | undefined;
      try {
        const second = await ReplicaStore.open(options);
        await second.close();
      } catch (err) {
        code = (err as { code?: string }).code;
      }
      expect(code).to.equal('REPLICA_LOCKED');
    } finally {
      await first.close();
      await cleanup();
    }
  });

  it('takes over a lock whose owner process is dead', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const { writeFile } = await import('node:fs/promises');
      await writeFile(join(dir, 'lock'), '2147483646');
      const release = await acquireLock(join(dir, 'lock'));
      await release();
      // A lock naming our own pid that we do not hold was left by an earlier process with that pid.
      await writeFile(join(dir, 'lock'), String(process.pid));
      const again = await acquireLock(join(dir, 'lock'));
      await again();
    } finally {
      await cleanup();
    }
  });

  it('never lets two processes hold the lock at once', async function () {
    this.timeout(60_000);
    const { dir, cleanup } = await tempDir();
    try {
      const lock = join(dir, 'lock');
      const child = join(__dirname, '..', 'fixtures', 'lock-child.ts');
      await Promise.all(
        [1, 2, 3, 4, 5, 6].map(
          () =>
            new Promise<void>((res, rej) => {
              const p = spawn(process.execPath, ['-r', 'ts-node/register', child, lock, '30'], { env: { ...process.env, TS_NODE_TRANSPILE_ONLY: 'true' }, stdio: 'inherit' });
              p.on('error', rej);
              p.on('close', (code) => (code === 0 ? res() : rej(new Error(`lock child exited ${code}`))));
            }),
        ),
      );
      let holder: string | null = null;
      let overlaps = 0;
      let holds = 0;
      for (const line of (await readFile(`${lock}.log`, 'utf8')).split('\n').filter(Boolean)) {
        if (line.startsWith('+')) {
          holds += 1;
          if (holder !== null) overlaps += 1;
          holder = line.slice(1);
        } else holder = null;
      }
      expect(holds, 'the lock was taken at all').to.be.greaterThan(6);
      expect(overlaps).to.equal(0);
    } finally {
      await cleanup();
    }
  });
});
