import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { VM_CONFIG_LIMITS } from '../../src/agent/messages';
import { VmConfigStore } from '../../src/agent/vm-config-store';
import { run, runOk } from '../../src/util/exec';
import { followEvents } from '../helpers/harness-process';
import { VM, adversary, body, expectCode, send } from './vm-config-adversarial-helpers';

// The store of exported VM configurations (docs/cluster.md "Registering the replica") under real
// faults: the receiver SIGKILLed at seeded points while it stores exports, and a tmpfs that really
// fills during a part and during the commit. Re-opened, the export is whole: old or new, never half.

describe('vm-config adversarial: crashes and a full disk', function () {
  this.timeout(60_000);
  const { rnd, transfer, bytes, vmcx, work, freshStore } = adversary('vm-config adversarial: crashes and a full disk');

  describe('crashes: the receiver SIGKILLed while parts arrive and while current.json is replaced', () => {
    /** The export the crash child stores as its i-th: ~0.6 MiB (two parts), its number inside. */
    const exportNo = (i: number): Buffer => {
      const b = Buffer.alloc(600 * 1024 + (i % 7) * 1000, i % 251);
      b.writeUInt32LE(i, 0);
      return b;
    };
    // Stores exports one after another, as fast as it can, telling the parent each start and commit.
    const child = `
      const { VmConfigStore } = require(${JSON.stringify(join(__dirname, '../../src/agent/vm-config-store'))});
      const { VmConfigCommit } = require(${JSON.stringify(join(__dirname, '../../src/agent/messages'))});
      const { createHash } = require('node:crypto');
      const exportNo = ${exportNo.toString()};
      const store = new VmConfigStore({ dataDir: process.env.XR_DIR, modules: [{ name: 'web1' }] });
      (async () => {
        for (let i = Number(process.env.XR_FROM); ; i++) {
          const t = i.toString(16).padStart(32, '0');
          const data = exportNo(i);
          console.log(JSON.stringify({ event: 'start', i }));
          for (let off = 0; off < data.length; off += ${VM_CONFIG_LIMITS.partBytes}) await store.putPart('web1', t, 0, off, data.subarray(off, off + ${VM_CONFIG_LIMITS.partBytes}));
          await store.commit(VmConfigCommit.body.parse({ module: 'web1', epoch: 1, transfer: t, vmId: '${VM}', configHash: createHash('sha256').update(t).digest('hex'), disks: ['web1.vhdx'], adapters: [],
            files: [{ name: 'Virtual Machines/${VM}.vmcx', size: data.length, sha256: createHash('sha256').update(data).digest('hex') }] }));
          console.log(JSON.stringify({ event: 'committed', i }));
        }
      })().catch((e) => { console.log(JSON.stringify({ event: 'error', message: String(e) })); process.exit(1); });`;

    it('re-opened after each kill, the export is whole: the last one committed or the one in flight, never a mixture; the next commit clears the leftovers', async () => {
      const { dir } = await freshStore('crash');
      const landed: string[] = [];
      for (let round = 1; round <= 3; round++) {
        const proc = spawn(process.execPath, ['-r', 'ts-node/register', '-e', child], { env: { ...process.env, TS_NODE_TRANSPILE_ONLY: 'true', XR_DIR: dir, XR_FROM: String(round * 1000) }, stdio: ['ignore', 'pipe', 'pipe'] });
        const events = followEvents(proc, `crash child ${round}`);
        const exited = new Promise((r) => proc.once('exit', r));
        const k = rnd.int(1, 3);
        await events.waitFor((e) => e.event === 'committed' && e.i === round * 1000 + k - 1, 30_000, `commit ${k}`);
        await sleep(rnd.int(0, 40));
        proc.kill('SIGKILL');
        await exited;
        expect(events.events.filter((e) => e.event === 'error'), 'the child failed on its own').to.deep.equal([]);
        const nums = (ev: string): number[] => events.events.filter((e) => e.event === ev).map((e) => e.i as number);
        const committed = Math.max(...nums('committed'));
        const started = Math.max(...nums('start'));
        const reopened = new VmConfigStore({ dataDir: dir, modules: [{ name: 'web1' }] as never });
        const cur = (await reopened.current('web1'))!;
        const i = parseInt(cur.record.Transfer, 16);
        expect(i).to.be.within(committed, started);
        expect(await readFile(join(cur.configDir, `Virtual Machines/${VM}.vmcx`))).to.deep.equal(exportNo(i));
        const left = await readdir(join(dir, 'replicas/web1/vm-config'));
        const inFlight = started.toString(16).padStart(32, '0');
        landed.push(i === started ? 'the pointer replaced' : left.includes(inFlight) ? 'in the commit, before the pointer' : 'receiving or checking parts');
      }
      process.stderr.write(`      kills landed: ${landed.join('; ')}\n`);
      const { store } = await freshStore('crash');
      const f = vmcx();
      const t = transfer();
      await send(store, t, [f]);
      await store.commit(body(t, [f]));
      expect((await readdir(join(dir, 'replicas/web1/vm-config'))).sort()).to.deep.equal([t, 'current.json']);
    });
  });

  describe('a really full disk (a 2 MiB tmpfs)', () => {
    let mnt = '';
    before(async function () {
      if (process.getuid?.() !== 0) {
        if (process.env.CI === 'true') throw new Error('the full-disk test needs root to mount a tmpfs');
        this.skip();
      }
      mnt = join(work(), 'tmpfs');
      await mkdir(mnt, { recursive: true });
      await runOk('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', mnt]);
    });
    after(async () => {
      if (mnt !== '') await run('umount', [mnt]);
    });
    const filler = (): string => join(mnt, 'filler');
    /** Leaves about `bytes` free (a real file takes the rest). */
    const leaveFree = async (bytes: number): Promise<void> => {
      await rm(filler(), { force: true });
      const s = await statfs(mnt);
      await runOk('fallocate', ['-l', String(s.bavail * s.bsize - bytes), filler()]);
    };

    it('a part, then the commit, on a full disk: DISK_FULL, whole parts only, the previous export current and whole; with space back the next export commits and the leftovers go', async () => {
      const store = new VmConfigStore({ dataDir: mnt, modules: [{ name: 'web1' }] as never });
      const root = join(mnt, 'replicas/web1/vm-config');
      const first = vmcx(bytes(64 * 1024));
      const t1 = transfer();
      await send(store, t1, [first]);
      await store.commit(body(t1, [first]));
      const stillFirst = async (): Promise<void> => {
        const cur = (await store.current('web1'))!;
        expect(cur.record.Transfer).to.equal(t1);
        expect(await readFile(join(cur.configDir, first.name))).to.deep.equal(first.data);
      };
      // A part bigger than what is free: the kernel writes what fits and says so; nothing of it stays.
      await leaveFree(300 * 1024);
      const t2 = transfer();
      await expectCode(store.putPart('web1', t2, 0, 0, bytes(VM_CONFIG_LIMITS.partBytes)), 'DISK_FULL');
      expect((await readFile(join(root, 'incoming', t2, '0.part'))).length, 'whole parts only').to.equal(0);
      await stillFirst();
      // The parts fit; the disk is full when current.json is to be replaced.
      await rm(filler());
      const next = vmcx(bytes(200 * 1024));
      const t3 = transfer();
      await send(store, t3, [next]);
      await leaveFree(0);
      await expectCode(store.commit(body(t3, [next])), 'DISK_FULL');
      await stillFirst();
      expect(await readdir(root)).to.not.include('current.json.tmp');
      await rm(filler());
      const last = vmcx(bytes(100 * 1024));
      const t4 = transfer();
      await send(store, t4, [last]);
      await store.commit(body(t4, [last]));
      expect((await store.current('web1'))!.record.Transfer).to.equal(t4);
      expect((await readdir(root)).sort(), 'the first export and the orphan of the failed commit are gone').to.deep.equal([t4, 'current.json']);
    });
  });
});
