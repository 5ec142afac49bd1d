import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { link, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasCode } from '../../../src/errors';
import { ReplicaStore } from '../../../src/replication';
import { acquireLock } from '../../../src/replication/replica/lock';
import { tempDir } from '../../helpers/tmp';

async function lockCode(p: Promise<() => Promise<void>>): Promise<string | undefined> {
  try {
    await (await p)();
  } catch (err) {
    return (err as { code?: string }).code ?? (err as Error).message;
  }
  return undefined;
}

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
      const lock = join(dir, 'lock');
      await writeFile(lock, '2147483646');
      const release = await acquireLock(lock);
      expect(await readFile(lock, 'utf8'), 'the lock now names this process').to.equal(String(process.pid));
      await release();
      expect(existsSync(lock), 'released: the lock file is gone').to.equal(false);
      // A lock naming our own pid that we do not hold was left by an earlier process with that pid.
      await writeFile(lock, String(process.pid));
      const again = await acquireLock(lock);
      expect(await readFile(lock, 'utf8')).to.equal(String(process.pid));
      // ...and while we hold it, a second taker in this process is refused.
      expect(await lockCode(acquireLock(lock))).to.equal('REPLICA_LOCKED');
      await again();
      expect(existsSync(lock)).to.equal(false);
    } finally {
      await cleanup();
    }
  });

  it('takes over a lock left by a crash between linking its temp and removing it', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const lock = join(dir, 'lock');
      for (const pid of [2147483646, process.pid]) {
        // The dead owner's lock still has its temp as a second name (our own pid: a reused pid).
        await writeFile(`${lock}.${pid}.tmp`, String(pid));
        await link(`${lock}.${pid}.tmp`, lock);
        const release = await acquireLock(lock);
        expect(await readFile(lock, 'utf8')).to.equal(String(process.pid));
        await release();
        await rm(`${lock}.${pid}.tmp`, { force: true });
      }
    } finally {
      await cleanup();
    }
  });

  it('refuses a lock whose owner process is alive', async () => {
    const { dir, cleanup } = await tempDir();
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      const lock = join(dir, 'lock');
      await writeFile(lock, String(child.pid));
      expect(await lockCode(acquireLock(lock))).to.equal('REPLICA_LOCKED');
      expect(await readFile(lock, 'utf8'), 'the live owner keeps its lock').to.equal(String(child.pid));
    } finally {
      child.kill('SIGKILL');
      await cleanup();
    }
  });

  for (const [label, text] of [
    ['empty', ''],
    ['non-numeric', 'garbage\n'],
    ['negative', '-12'],
    ['overlong', '99999999999999999999'],
  ] as const) {
    it(`takes over a lock file that is ${label} when no process has it open`, async () => {
      const { dir, cleanup } = await tempDir();
      try {
        const lock = join(dir, 'lock');
        await writeFile(lock, text);
        const release = await acquireLock(lock);
        expect(await readFile(lock, 'utf8')).to.equal(String(process.pid));
        await release();
      } finally {
        await cleanup();
      }
    });
  }

  it('refuses a lock file that names no pid while a process has it open', async function () {
    if (process.platform !== 'linux') this.skip(); // the open-file check reads /proc (docs/replication.md)
    const { dir, cleanup } = await tempDir();
    const lock = join(dir, 'lock');
    await writeFile(lock, 'damaged');
    // A process holding the damaged lock open, as a holder does for as long as it holds its lock.
    const child = spawn(process.execPath, ['-e', `require('fs').openSync(${JSON.stringify(lock)}, 'r'); process.stdout.write('open\\n'); setTimeout(() => {}, 60000)`], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await new Promise<void>((res, rej) => {
        child.stdout?.once('data', () => res());
        child.once('exit', (c) => rej(new Error(`holder exited ${c}`)));
      });
      let err: unknown;
      try {
        await (await acquireLock(lock))();
      } catch (e) {
        err = e;
      }
      expect((err as { code?: string }).code).to.equal('REPLICA_LOCKED');
      expect((err as { details?: { pid?: number } }).details?.pid, 'names the process that has it open').to.equal(child.pid);
      expect(await readFile(lock, 'utf8')).to.equal('damaged');
    } finally {
      child.kill('SIGKILL');
      await cleanup();
    }
  });

  it('keeps its lock file open while held, so a damaged lock of a live holder is not taken over', async function () {
    if (process.platform !== 'linux') this.skip();
    const { dir, cleanup } = await tempDir();
    try {
      const lock = join(dir, 'lock');
      const release = await acquireLock(lock);
      // Someone damages the held lock: a taker in another process must still be refused.
      await writeFile(lock, 'xx');
      const lockModule = join(__dirname, '..', '..', '..', 'src', 'replication', 'replica', 'lock.ts');
      const script = `require(${JSON.stringify(lockModule)}).acquireLock(${JSON.stringify(lock)}).then((r) => { process.stdout.write('TAKEN'); return r(); }, (e) => process.stdout.write(String(e.code)))`;
      const out = await new Promise<string>((res, rej) => {
        const p = spawn(process.execPath, ['-r', 'ts-node/register', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, TS_NODE_TRANSPILE_ONLY: 'true' } });
        let text = '';
        p.stdout?.on('data', (d: Buffer) => (text += d.toString()));
        p.on('error', rej);
        p.on('close', () => res(text));
      });
      expect(out).to.equal('REPLICA_LOCKED');
      await release();
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
