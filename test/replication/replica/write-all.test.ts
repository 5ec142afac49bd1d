import { expect } from 'chai';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAll, writevAll, type PositionalWriter } from '../../../src/replication/util/write-all';
import { seeded } from '../../helpers/seed';
import { tempDir } from '../../helpers/tmp';

// A file handle that writes at most `max()` bytes per call (what a nearly full file system does),
// into a real file, so the result is judged by reading the file back.
function shortWriter(real: PositionalWriter, max: () => number): PositionalWriter {
  return {
    write: (async (buf: Uint8Array, offset: number, length: number, position: number) => {
      const n = Math.min(length, max());
      if (n === 0) return { bytesWritten: 0, buffer: buf };
      return real.write(buf, offset, n, position);
    }) as PositionalWriter['write'],
    writev: (async (parts: Uint8Array[], position: number) => {
      let budget = max();
      const cut: Uint8Array[] = [];
      for (const p of parts) {
        if (budget <= 0) break;
        cut.push(p.subarray(0, Math.min(p.length, budget)));
        budget -= Math.min(p.length, budget);
      }
      if (cut.length === 0) return { bytesWritten: 0, buffers: parts };
      return real.writev(cut, position);
    }) as PositionalWriter['writev'],
  };
}

function randomBuffer(rand: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

describe('replication/util/write-all', () => {
  it('writes every byte through short writes (write and writev), at the right offsets', async () => {
    const { rand, int, seed } = seeded('write-all-short');
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, 'f');
      const fh = await open(path, 'w+');
      try {
        const w = shortWriter(fh, () => int(1, 5000));
        const a = randomBuffer(rand, 70_000);
        await writeAll(w, a, 100, path);
        const parts = [randomBuffer(rand, 3), randomBuffer(rand, 0), randomBuffer(rand, 65_536), randomBuffer(rand, 17), randomBuffer(rand, 9000)];
        const at = 100 + a.length;
        await writevAll(w, parts, at, path);
        const want = Buffer.concat([Buffer.alloc(100), a, ...parts]);
        const got = await fh.readFile();
        expect(got.equals(want), `seed ${seed}`).to.equal(true);
      } finally {
        await fh.close();
      }
    } finally {
      await cleanup();
    }
  });

  it('turns a write that makes no progress into DISK_FULL instead of looping or returning', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, 'f');
      const fh = await open(path, 'w+');
      try {
        let left = 10_000; // the "file system" takes 10 000 bytes, then nothing more
        const w = shortWriter(fh, () => {
          const n = Math.min(left, 3000);
          left -= n;
          return n;
        });
        const errs: string[] = [];
        for (const attempt of [() => writeAll(w, Buffer.alloc(20_000, 1), 0, path), () => writevAll(w, [Buffer.alloc(5000, 2), Buffer.alloc(5000, 3)], 0, path)]) {
          try {
            await attempt();
            errs.push('completed');
          } catch (err) {
            errs.push((err as { code?: string }).code ?? String(err));
          }
        }
        expect(errs).to.deep.equal(['DISK_FULL', 'DISK_FULL']);
      } finally {
        await fh.close();
      }
    } finally {
      await cleanup();
    }
  });

  it('maps an ENOSPC from the file system to DISK_FULL naming the file', async () => {
    const failing: PositionalWriter = {
      write: (async () => {
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }) as PositionalWriter['write'],
      writev: (async () => {
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }) as PositionalWriter['writev'],
    };
    for (const attempt of [() => writeAll(failing, Buffer.alloc(10), 0, '/x/journal.data'), () => writevAll(failing, [Buffer.alloc(10)], 0, '/x/journal.data')]) {
      let err: unknown;
      try {
        await attempt();
      } catch (e) {
        err = e;
      }
      expect((err as { code?: string }).code).to.equal('DISK_FULL');
      expect((err as Error).message).to.contain('/x/journal.data');
    }
  });
});
