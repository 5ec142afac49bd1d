import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { z } from 'zod';
import { VM_CONFIG_LIMITS, VmConfigCommit, VmConfigPart } from '../../src/agent/messages';
import { EffectRunner } from '../../src/agent/cluster/effects';
import { ClusterRuntime } from '../../src/agent/cluster/runtime';
import { registerFromStoredConfig } from '../../src/agent/vm-config-register';
import { VmConfigShipper } from '../../src/agent/vm-config-ship';
import { VmConfigStore } from '../../src/agent/vm-config-store';
import type { LoadedConfig, ResolvedModule } from '../../src/config';
import { hasCode, type ErrorCode } from '../../src/errors';
import { createSimulatedVm } from '../../src/hypervisor/simulated';
import type { Hypervisor } from '../../src/hypervisor/types';
import { componentLogger } from '../../src/log';
import { run, runOk } from '../../src/util/exec';
import { makeSimFixture, type SimFixture } from '../hypervisor/simulated/fixture';
import { connectedPair, identities } from '../helpers/peer-pair';
import { hello, rawPeer } from '../helpers/raw-peer';
import { followEvents } from '../helpers/harness-process';
import { createVhdx } from '../helpers/qemu';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';

// A stranger's attacks on "Registering the replica" (docs/cluster.md): a peer that lies on the
// wire, a receiver killed mid-store, a disk that really fills, and exports that do not fit the
// module at a takeover. Each refusal has a stable code and leaves the previous export whole.

const VM = '0f8fad5b-d9cb-469f-a165-70867728950e';
const OTHER = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
const MiB = 1024 * 1024;
const log = componentLogger('test');
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
type File = { name: string; data: Buffer };
type Commit = z.output<typeof VmConfigCommit.body>;

async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<Error> {
  const err = await p.then(() => null, (e: unknown) => e as Error);
  expect(err, `expected ${code}`).to.not.equal(null);
  expect(hasCode(err, code), String(err)).to.equal(true);
  return err!;
}

function body(t: string, files: File[], extra: Partial<z.input<typeof VmConfigCommit.body>> = {}): Commit {
  return VmConfigCommit.body.parse({
    module: 'web1', epoch: 5, transfer: t, vmId: VM, configHash: sha(Buffer.from(t)), disks: ['web1.vhdx'], adapters: [],
    files: files.map((f) => ({ name: f.name, size: f.data.length, sha256: sha(f.data) })), ...extra,
  });
}

async function send(store: VmConfigStore, t: string, files: File[]): Promise<void> {
  for (const [i, f] of files.entries()) {
    for (let off = 0; off < f.data.length; off += VM_CONFIG_LIMITS.partBytes) await store.putPart('web1', t, i, off, f.data.subarray(off, off + VM_CONFIG_LIMITS.partBytes));
  }
}

/** Every path under `dir`, relative (to see that nothing landed outside the module's folder). */
async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

describe('vm-config adversarial: wire, crashes, a full disk, takeover', function () {
  this.timeout(60_000);
  const rnd = seeded('vm-config adversarial');
  let n = 0;
  const transfer = (): string => (++n).toString(16).padStart(32, 'a');
  const bytes = (len: number): Buffer => Buffer.from(Array.from({ length: len }, () => rnd.int(0, 255)));
  const vmcx = (data = bytes(rnd.int(1, 3000))): File => ({ name: `Virtual Machines/${VM}.vmcx`, data });
  let work: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    process.stderr.write(`      seed ${rnd.seed}\n`);
    ({ dir: work, cleanup } = await tempDir('vmmirror-xr-'));
  });
  after(() => cleanup());
  const freshStore = async (name: string): Promise<{ store: VmConfigStore; dir: string }> => {
    const dir = join(work, name);
    await mkdir(dir, { recursive: true });
    return { dir, store: new VmConfigStore({ dataDir: dir, modules: [{ name: 'web1' }] as never }) };
  };

  describe('wire: what a lying peer sends', () => {
    it('parts out of order or twice, a commit naming a file never sent, sizes and digests that lie: VM_CONFIG_INVALID, the previous export whole', async () => {
      const { store } = await freshStore('order');
      const good = vmcx();
      const t0 = transfer();
      await send(store, t0, [good]);
      await store.commit(body(t0, [good]));
      const t = transfer();
      await store.putPart('web1', t, 0, 0, Buffer.from('abc'));
      await expectCode(store.putPart('web1', t, 0, 0, Buffer.from('abc')), 'VM_CONFIG_INVALID'); // the same part again
      await expectCode(store.putPart('web1', t, 0, 7, Buffer.from('x')), 'VM_CONFIG_INVALID'); // a gap
      await expectCode(store.putPart('web1', t, 0, 1, Buffer.from('x')), 'VM_CONFIG_INVALID'); // an overlap
      const abc = { name: `Virtual Machines/${VM}.vmcx`, data: Buffer.from('abc') };
      const never = { name: `Virtual Machines/${VM}.vmgs`, data: Buffer.from('never sent') };
      await expectCode(store.commit(body(t, [abc, never])), 'VM_CONFIG_INVALID');
      await expectCode(store.commit(body(t, [{ ...abc, data: Buffer.from('abcd') }])), 'VM_CONFIG_INVALID'); // size lies
      await expectCode(store.commit({ ...body(t, [abc]), files: [{ name: abc.name, size: 3, sha256: sha(Buffer.from('abd')) }] }), 'VM_CONFIG_INVALID');
      // A file announced empty that never came is empty only if its digest says so (the sender sends no part for it).
      await expectCode(store.commit({ ...body(t, [abc]), files: [...body(t, [abc]).files, { name: never.name, size: 0, sha256: sha(Buffer.from('x')) }] }), 'VM_CONFIG_INVALID');
      expect((await store.current('web1'))!.record.Transfer, 'the previous export stays current').to.equal(t0);
      const empty = { name: `Virtual Machines/${VM}.VMRS`, data: Buffer.alloc(0) };
      await store.commit(body(t, [abc, empty]));
      const cur = (await store.current('web1'))!;
      expect(await readFile(join(cur.configDir, 'Virtual Machines', `${VM}.VMRS`))).to.deep.equal(Buffer.alloc(0));
    });

    it('names: traversal, backslash, absolute, NUL, look-alikes, another VM\'s files, a second .vmcx, case twins: refused; a case variant of the folder is stored as Hyper-V spells it', async () => {
      const { store, dir } = await freshStore('names');
      const hostile = [
        `Virtual Machines/../../../${VM}.vmcx`, `Virtual Machines\\${VM}.vmcx`, `/Virtual Machines/${VM}.vmcx`, `C:\\Virtual Machines\\${VM}.vmcx`,
        `Virtual Machines/${VM}.vmcx\0.ps1`, `Virtual Machines/${VM}\0.vmcx`, `Virtual Machines/${VM}.vmcx\n`, ` Virtual Machines/${VM}.vmcx`,
        `Virtual\u00a0Machines/${VM}.vmcx`, `\uff36irtual Machines/${VM}.vmcx`, `Virtual Machines/${VM.replace('a', '\u0430')}.vmcx`, `Virtual Machines/${VM}.vm\u0441x`,
        `Virtual Machines/${VM.replace('0', '\uff10')}.vmcx`, `Virtual Machines\u2215${VM}.vmcx`, `Virtual Machines//${VM}.vmcx`, `Virtual Machines/./${VM}.vmcx`,
      ];
      for (const name of hostile) {
        const t = transfer();
        const f = { name, data: Buffer.from('x') };
        await store.putPart('web1', t, 0, 0, f.data);
        const err = await expectCode(store.commit({ ...body(t, [vmcx(Buffer.from('x'))]), files: [{ name, size: 1, sha256: sha(f.data) }] }), 'VM_CONFIG_INVALID');
        expect(err.message).to.include(JSON.stringify(name));
      }
      // Files of another VM beside the VM's own .vmcx: a driver registers "the" .vmcx of the folder.
      for (const extra of [`Virtual Machines/${OTHER}.vmcx`, `Virtual Machines/${OTHER}.vmgs`, `virtual machines/${VM.toUpperCase()}.VMCX`]) {
        const files = [vmcx(Buffer.from('x')), { name: extra, data: Buffer.from('y') }];
        const t = transfer();
        await send(store, t, files);
        await expectCode(store.commit(body(t, files)), 'VM_CONFIG_INVALID');
      }
      expect(await store.current('web1'), 'nothing was ever stored').to.equal(null);
      const lower = { name: `virtual machines/${VM}.vmcx`, data: Buffer.from('lower') };
      const t = transfer();
      await send(store, t, [lower]);
      await store.commit(body(t, [lower]));
      const cur = (await store.current('web1'))!;
      expect(cur.record.Files.map((f) => f.Name)).to.deep.equal([`Virtual Machines/${VM}.vmcx`]);
      expect(await tree(dir)).to.deep.equal(['replicas', 'replicas/web1', 'replicas/web1/vm-config', `replicas/web1/vm-config/${t}`, `replicas/web1/vm-config/${t}/Virtual Machines`, `replicas/web1/vm-config/${t}/Virtual Machines/${VM}.vmcx`, 'replicas/web1/vm-config/current.json']);
    });

    it('a transfer id is used once: parts or a commit that reuse the current (or a pinned) export\'s id never rewrite its folder', async () => {
      const { store } = await freshStore('reuse');
      const first = vmcx();
      const t = transfer();
      await send(store, t, [first]);
      await store.commit(body(t, [first]));
      const forged = vmcx(bytes(100));
      await expectCode(store.putPart('web1', t, 0, 0, forged.data), 'VM_CONFIG_INVALID');
      await expectCode(store.commit(body(t, [forged])), 'VM_CONFIG_INVALID');
      const cur = (await store.current('web1'))!;
      expect(await readFile(join(cur.configDir, first.name))).to.deep.equal(first.data);
      await store.pinForRegistration('web1', cur.record);
      const next = vmcx();
      const t2 = transfer();
      await send(store, t2, [next]);
      await store.commit(body(t2, [next]));
      await expectCode(store.commit(body(t, [forged])), 'VM_CONFIG_INVALID');
      expect(await readFile(join(cur.configDir, first.name)), 'the pinned (registered) export').to.deep.equal(first.data);
    });

    it('10 000 tiny parts make one whole file; a flood of transfers keeps one unfinished transfer on disk, bounded', async () => {
      const { store, dir } = await freshStore('flood');
      const data = bytes(10_000);
      const t = transfer();
      const t0 = performance.now();
      for (let i = 0; i < data.length; i++) await store.putPart('web1', t, 0, i, data.subarray(i, i + 1));
      const ms = performance.now() - t0;
      await store.commit(body(t, [vmcx(data)]));
      expect(await readFile(join((await store.current('web1'))!.configDir, `Virtual Machines/${VM}.vmcx`))).to.deep.equal(data);
      process.stderr.write(`      10 000 one-byte parts: ${Math.round(ms)} ms (${(ms / 10).toFixed(1)} us a part)\n`);
      const part = Buffer.alloc(VM_CONFIG_LIMITS.partBytes, 7);
      for (let k = 0; k < 40; k++) await store.putPart('web1', transfer(), k % VM_CONFIG_LIMITS.files, 0, part);
      const incoming = join(dir, 'replicas/web1/vm-config/incoming');
      expect(await readdir(incoming)).to.have.length(1);
      expect(await tree(incoming)).to.have.length(2);
    });
  });

  describe('the runner\'s side: an export the peer would refuse is not sent', () => {
    it('a file of another VM\'s id in the export folder: nothing sent (the peer would take every part, then refuse the commit, after every cycle)', async () => {
      const dataDir = join(work, 'runner');
      const sent: string[] = [];
      const vm = { id: VM, name: 'WEB1', memoryBytes: 1, processorCount: 1, configurationVersion: '9.0', generation: 2, disks: [], networkAdapters: [] };
      const hypervisor = {
        getVm: async () => vm,
        exportConfig: async (_id: string, dest: string) => {
          await mkdir(join(dest, 'Virtual Machines'), { recursive: true });
          await writeFile(join(dest, 'Virtual Machines', `${VM}.vmcx`), 'own');
          await writeFile(join(dest, 'Virtual Machines', `${OTHER}.vmgs`), 'not its own');
          return { vmId: VM, configDir: dest, files: [] };
        },
      } as unknown as Hypervisor;
      const shipper = new VmConfigShipper({
        config: { dataDir, peer: { Name: 'hvb' } } as unknown as LoadedConfig, hypervisor, log, vmIdOf: async () => VM,
        connection: async () => ({ request: async (def: { type: string }) => void sent.push(def.type) }) as never,
      });
      await shipper.afterCycle({ name: 'web1', disks: [] } as unknown as ResolvedModule, 5);
      expect(sent).to.deep.equal([]);
      expect(await readdir(join(dataDir, 'state', 'web1')), 'the export folder is removed').to.deep.equal([]);
    });
  });

  describe('wire: over the real peer link, the commit gated as the agent gates it', () => {
    it('a commit from a stale epoch, an epoch not yet known, a host that is not the owner, a module this host lacks: refused with their codes, nothing stored; bodies off the schema never reach the store', async () => {
      const { store, dir } = await freshStore('link');
      const module = { name: 'web1', epoch: 5, state: 'SECOND', waitReason: null, owner: 'b', vm: 'off' };
      const snap = { self: 'a', peerName: 'b', modules: { web1: module } };
      const rt = new ClusterRuntime(snap as never, {} as never, log);
      const pair = await connectedPair();
      try {
        pair.server.onRequest(VmConfigPart, (b) => store.putPart(b.module, b.transfer, b.file, b.offset, Buffer.from(b.data, 'base64')));
        pair.server.onRequest(VmConfigCommit, (b) => {
          rt.gate(b.module, b.epoch); // as src/agent/agent.ts wires it
          return store.commit(b);
        });
        const conn = pair.clientConn;
        const ship = async (epoch: number, m = 'web1'): Promise<string> => {
          const f = vmcx();
          const t = transfer();
          await conn.request(VmConfigPart, { module: 'web1', transfer: t, file: 0, offset: 0, data: f.data.toString('base64') }, { timeoutMs: 5000 });
          await conn.request(VmConfigCommit, { ...body(t, [f]), module: m, epoch }, { timeoutMs: 5000 });
          return t;
        };
        const t = await ship(5);
        await expectCode(ship(4), 'STALE_EPOCH');
        await expectCode(ship(6), 'STALE_EPOCH');
        await expectCode(ship(5, 'db9'), 'MODULE_NOT_FOUND');
        await expectCode(conn.request(VmConfigPart, { module: 'db9', transfer: transfer(), file: 0, offset: 0, data: '' }, { timeoutMs: 5000 }), 'MODULE_NOT_FOUND');
        // Takeover here (epoch 6, this host the owner): the old owner's late export is refused whatever its epoch.
        Object.assign(module, { epoch: 6, state: 'ALONE', owner: 'a' });
        await expectCode(ship(5), 'STALE_EPOCH');
        await expectCode(ship(6), 'MODULE_NOT_SECONDARY');
        Object.assign(module, { state: 'WAIT', waitReason: 'resync', owner: 'b', vm: 'running' });
        await expectCode(ship(6), 'MODULE_NOT_SECONDARY'); // a resync's receiver takes exports only while the VM is off here...
        Object.assign(module, { vm: 'off' });
        const t2 = await ship(6); // ...and the owner's export while it is resynchronised
        expect(t2).to.not.equal(t);
        // A hostile peer's raw requests: the link's schema refuses before any handler runs.
        const m = await rawPeer(identities().mallory, pair.port);
        m.control(hello('mallory'));
        await m.next('hello');
        const bad = [
          { module: '../web1', transfer: transfer(), file: 0, offset: 0, data: '' },
          { module: 'web1', transfer: '../../etc', file: 0, offset: 0, data: '' },
          { module: 'web1', transfer: transfer(), file: VM_CONFIG_LIMITS.files, offset: 0, data: '' },
          { module: 'web1', transfer: transfer(), file: 0, offset: VM_CONFIG_LIMITS.fileBytes + 1, data: '' },
          { module: 'web1', transfer: transfer(), file: 0, offset: 0, data: 'not base64!' },
          { module: 'web1', transfer: transfer(), file: 0, offset: 0, data: Buffer.alloc(VM_CONFIG_LIMITS.partBytes + 3).toString("base64") }, // (+1 or +2 pass the base64 length and meet the store's bound)
        ];
        for (const [i, b] of bad.entries()) m.control({ kind: 'request', id: 100 + i, type: 'vmconfig.part', body: b });
        const deadline = Date.now() + 5000;
        const errors = (): Array<Record<string, unknown>> => m.frames.filter((f) => f.type === 'control').map((f) => JSON.parse(f.payload.toString('utf8')) as Record<string, unknown>).filter((x) => x.kind === 'reply-error');
        while (errors().length < bad.length && Date.now() < deadline) await sleep(20);
        expect(errors().map((e) => e.reason), JSON.stringify(errors())).to.deep.equal(bad.map(() => "schema"));
        // A flood from the hostile peer: 48 parts of 512 KiB written at once, past one file's 16 MiB.
        // Every one is answered; what does not fit is refused with a code; the disk holds at most the file's bound.
        const tf = transfer();
        const chunk = Buffer.alloc(VM_CONFIG_LIMITS.partBytes, 1).toString('base64');
        for (let i = 0; i < 48; i++) m.control({ kind: 'request', id: 200 + i, type: 'vmconfig.part', body: { module: 'web1', transfer: tf, file: 0, offset: i * VM_CONFIG_LIMITS.partBytes, data: chunk } });
        const answers = (): Array<Record<string, unknown>> => m.frames.filter((f) => f.type === 'control').map((f) => JSON.parse(f.payload.toString('utf8')) as Record<string, unknown>).filter((x) => (x.id as number) >= 200);
        const floodEnd = Date.now() + 30_000;
        while (answers().length < 48 && Date.now() < floodEnd) await sleep(50);
        const counts: Record<string, number> = {};
        for (const x of answers()) counts[x.kind === 'reply' ? 'ok' : String(x.reason ?? x.code)] = (counts[x.kind === 'reply' ? 'ok' : String(x.reason ?? x.code)] ?? 0) + 1;
        process.stderr.write(`      48 parts at once: ${JSON.stringify(counts)}\n`);
        expect(answers()).to.have.length(48);
        const maxParts = VM_CONFIG_LIMITS.fileBytes / VM_CONFIG_LIMITS.partBytes;
        expect(counts.ok ?? 0).to.be.at.most(maxParts);
        expect((counts.ok ?? 0) + (counts.VM_CONFIG_INVALID ?? 0) + (counts['too-many-requests'] ?? 0) + (counts.schema ?? 0)).to.equal(48);
        expect(counts.schema, 'offsets past a file\'s bound fail the schema').to.equal(48 - maxParts - 1);
        expect((await readFile(join(dir, 'replicas/web1/vm-config/incoming', tf, '0.part'))).length).to.equal((counts.ok ?? 0) * VM_CONFIG_LIMITS.partBytes);
        m.socket.destroy();
        expect((await store.current('web1'))!.record.Transfer).to.equal(t2);
        expect((await tree(dir)).filter((x) => !x.startsWith('replicas/web1/vm-config'))).to.deep.equal(['replicas', 'replicas/web1']);
      } finally {
        await pair.close();
      }
    });
  });

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
      mnt = join(work, 'tmpfs');
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

  describe('takeover: the stored export must fit the module, and nothing is registered over the wrong files', () => {
    let a: SimFixture;
    let b: SimFixture;
    before(async () => {
      a = await makeSimFixture({ switchNames: ['LAN'], hostMemoryBytes: 8 * 1024 * MiB });
      b = await makeSimFixture({ switchNames: ['LAN'], hostMemoryBytes: 8 * 1024 * MiB });
    });
    after(async () => {
      await a?.cleanup();
      await b?.cleanup();
    });
    const disk = async (host: SimFixture, name: string): Promise<string> => {
      const path = join(host.workDir, name);
      await createVhdx(path, { sizeBytes: 2 * MiB, subformat: 'dynamic', blockSizeBytes: MiB });
      return path;
    };
    /** The VM's real export from host a, its .vmcx optionally tampered with, stored on b as the owner would send it. */
    async function exportToB(store: VmConfigStore, id: string, disks: string[], tamper: (vm: Record<string, unknown>) => void = () => undefined): Promise<string> {
      const out = join(a.workDir, `export-${transfer()}`);
      const e = await a.hypervisor.exportConfig(id, out, { timeoutMs: 10_000 });
      const doc = JSON.parse(await readFile(join(e.configDir, e.files[0]!), 'utf8')) as { vm: Record<string, unknown> };
      tamper(doc.vm);
      const f = { name: `Virtual Machines/${id}.vmcx`, data: Buffer.from(JSON.stringify(doc)) };
      const t = transfer();
      await send(store, t, [f]);
      await store.commit(body(t, [f], { vmId: id, disks }));
      return t;
    }
    const moduleOn = (localPaths: Record<string, string>, extra: Partial<ResolvedModule> = {}): ResolvedModule =>
      ({ name: 'web1', vmName: 'WEB1', disks: Object.entries(localPaths).map(([name, localPath]) => ({ name, localPath })), ...extra }) as unknown as ResolvedModule;
    const configB = (m: ResolvedModule): LoadedConfig => ({ dataDir: join(b.workDir, 'data'), self: { Name: 'hvb' }, peer: { Name: 'hva' }, modules: [m] }) as unknown as LoadedConfig;

    it('a VM with the export\'s id already registered here over other disks (a module found by its name): VM_ALREADY_REGISTERED, that VM untouched', async () => {
      const otherDisk = await disk(b, 'other.vhdx');
      const clash = await createSimulatedVm(b.stateDir, { name: 'OTHER', disks: [{ path: otherDisk, format: 'VHDX' }], switchNames: ['LAN'] });
      const id = await createSimulatedVm(a.stateDir, { id: clash, name: 'WEB1', disks: [{ path: await disk(a, 'web1.vhdx'), format: 'VHDX' }], switchNames: ['LAN'] });
      const m = moduleOn({ 'web1.vhdx': await disk(b, 'copy of web1.vhdx') });
      const store = new VmConfigStore(configB(m));
      await exportToB(store, id, ['web1.vhdx']);
      await expectCode(registerFromStoredConfig({ config: configB(m), control: b.hypervisor, store, log }, m), 'VM_ALREADY_REGISTERED');
      const vm = (await b.hypervisor.getVm(clash))!;
      expect([vm.name, vm.disks.map((d) => d.basePath)]).to.deep.equal(['OTHER', [otherDisk]]);
    });

    it('an export naming one disk twice, or a disk path of its own: refused or ignored, the VM only ever gets this host\'s copies', async () => {
      const id = await createSimulatedVm(a.stateDir, { name: 'WEB1', disks: [{ path: await disk(a, 'os.vhdx'), format: 'VHDX' }, { path: await disk(a, 'data.vhdx'), format: 'VHDX' }], switchNames: ['LAN'] });
      const copies = { 'os.vhdx': await disk(b, 'os copy.vhdx'), 'data.vhdx': await disk(b, 'data copy.vhdx') };
      const m = moduleOn(copies, { vmId: id });
      const store = new VmConfigStore(configB(m));
      await exportToB(store, id, ['os.vhdx', 'os.vhdx']);
      await expectCode(registerFromStoredConfig({ config: configB(m), control: b.hypervisor, store, log }, m), 'VM_CONFIG_INVALID');
      expect(await b.hypervisor.getVm(id), 'nothing registered').to.equal(null);
      // The .vmcx points its disks elsewhere (as every export does: the runner's paths; here a hostile one).
      await exportToB(store, id, ['os.vhdx', 'data.vhdx'], (vm) => {
        for (const d of vm.disks as Array<{ path: string }>) d.path = '/etc/passwd';
      });
      expect(await registerFromStoredConfig({ config: configB(m), control: b.hypervisor, store, log }, m)).to.equal(id);
      expect((await b.hypervisor.getVm(id))!.disks.map((d) => d.basePath)).to.deep.equal([copies['os.vhdx'], copies['data.vhdx']]);
    });

    it('a commit landing between the read of the stored export and its pin: the registration uses a folder that still exists, and keeps it', async () => {
      const id = await createSimulatedVm(a.stateDir, { name: 'WEB1', disks: [{ path: await disk(a, 'race.vhdx'), format: 'VHDX' }], switchNames: ['LAN'] });
      const m = moduleOn({ 'race.vhdx': await disk(b, 'race copy.vhdx') }, { vmId: id });
      const store = new VmConfigStore(configB(m));
      const first = await exportToB(store, id, ['race.vhdx']);
      const f = { name: `Virtual Machines/${id}.vmcx`, data: bytes(50) };
      const t = transfer();
      await send(store, t, [f]);
      const registering = registerFromStoredConfig({ config: configB(m), control: b.hypervisor, store, log }, m);
      const committing = store.commit(body(t, [f], { vmId: id, disks: ['race.vhdx'] })); // queued right behind the registration's read
      expect(await registering).to.equal(id);
      await committing;
      expect((await store.current('web1'))!.record.Transfer).to.equal(t);
      expect(await readdir(join(b.workDir, 'data/replicas/web1/vm-config', first, 'Virtual Machines')), 'the registered VM\'s folder is kept').to.have.length(1);
    });
  });

  describe('takeover: an id known from earlier whose VM was removed since', () => {
    it('promote looks again and registers from the export; a start that finds no VM fails VM_NOT_FOUND instead of reporting a VM that never ran', async () => {
      const calls: string[] = [];
      const events: Array<{ type: string; effect?: string; code?: string }> = [];
      let registered = false;
      const info = { id: 'vm-1', name: 'WEB1', state: 'Off', networkAdapters: [], disks: [] };
      const control = {
        getVm: async () => (registered ? { ...info } : null),
        startVm: async () => (calls.push('startVm'), { ...info, state: 'Running' }),
        setStaticMac: async () => ({ ...info }),
      } as unknown as Hypervisor;
      const runner = (register: boolean): EffectRunner =>
        new EffectRunner({
          config: { modules: [{ name: 'web1', policies: { startTimeoutSeconds: 1 } }], self: { Name: 'hvb' } } as unknown as LoadedConfig,
          control, witness: null, recordsDir: '/nonexistent', log, dispatch: (e) => events.push(e as never),
          vmIdOf: async () => 'vm-1', // cached when the agent started, before the VM was removed
          releaseReplica: async () => ({ generation: 4 }), beforeStart: async () => undefined,
          resync: async () => ({ generation: 1 }), failback: async () => ({ epoch: 2, generation: 1 }),
          ...(register ? { registerReplica: async () => (calls.push('register'), (registered = true), 'vm-1') } : {}),
        });
      const outcome = (): string[] => events.splice(0).map((e) => `${e.type}:${e.effect}${e.code !== undefined ? `:${e.code}` : ''}`);
      let r = runner(false);
      r.enqueue([{ type: 'promote-replica', module: 'web1' }, { type: 'start-vm', module: 'web1' }]);
      await r.drain('web1');
      expect(outcome()).to.deep.equal(['effect-failed:promote-replica:VM_NOT_REGISTERED', 'effect-failed:start-vm:VM_NOT_FOUND']);
      r = runner(true);
      r.enqueue([{ type: 'promote-replica', module: 'web1' }, { type: 'start-vm', module: 'web1' }]);
      await r.drain('web1');
      expect(outcome()).to.deep.equal(['effect-done:promote-replica', 'effect-done:start-vm']);
      expect(calls).to.deep.equal(['register', 'startVm']);
    });
  });
});
