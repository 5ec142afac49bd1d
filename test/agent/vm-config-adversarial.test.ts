import { expect } from 'chai';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { VM_CONFIG_LIMITS, VmConfigCommit, VmConfigPart } from '../../src/agent/messages';
import { ClusterRuntime } from '../../src/agent/cluster/runtime';
import { VmConfigShipper } from '../../src/agent/vm-config-ship';
import type { LoadedConfig, ResolvedModule } from '../../src/config';
import type { Hypervisor } from '../../src/hypervisor/types';
import { componentLogger } from '../../src/log';
import { connectedPair, identities } from '../helpers/peer-pair';
import { hello, rawPeer } from '../helpers/raw-peer';
import { OTHER, VM, adversary, body, expectCode, send, sha, tree } from './vm-config-adversarial-helpers';

const log = componentLogger('test');

// A stranger's attacks on "Registering the replica" (docs/cluster.md), wire side: a peer that
// lies in its parts and commits (order, names, sizes, digests, reused ids, floods), over the store
// and over the real link with the commit gated as the agent gates it. Each refusal has a stable
// code and leaves the previous export whole. Crashes and a full disk: -faults; takeover: -takeover.

describe('vm-config adversarial: the wire', function () {
  this.timeout(60_000);
  const { transfer, bytes, vmcx, work, freshStore } = adversary('vm-config adversarial: the wire');

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
      const dataDir = join(work(), 'runner');
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
          await conn.request(VmConfigPart, { module: 'web1', epoch: 5, transfer: t, file: 0, offset: 0, data: f.data.toString('base64') }, { timeoutMs: 5000 });
          await conn.request(VmConfigCommit, { ...body(t, [f]), module: m, epoch }, { timeoutMs: 5000 });
          return t;
        };
        const t = await ship(5);
        await expectCode(ship(4), 'STALE_EPOCH');
        await expectCode(ship(6), 'STALE_EPOCH');
        await expectCode(ship(5, 'db9'), 'MODULE_NOT_FOUND');
        await expectCode(conn.request(VmConfigPart, { module: 'db9', epoch: 5, transfer: transfer(), file: 0, offset: 0, data: '' }, { timeoutMs: 5000 }), 'MODULE_NOT_FOUND');
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
          { module: '../web1', epoch: 5, transfer: transfer(), file: 0, offset: 0, data: '' },
          { module: 'web1', epoch: 5, transfer: '../../etc', file: 0, offset: 0, data: '' },
          { module: 'web1', epoch: 5, transfer: transfer(), file: VM_CONFIG_LIMITS.files, offset: 0, data: '' },
          { module: 'web1', epoch: 5, transfer: transfer(), file: 0, offset: VM_CONFIG_LIMITS.fileBytes + 1, data: '' },
          { module: 'web1', epoch: 5, transfer: transfer(), file: 0, offset: 0, data: 'not base64!' },
          { module: 'web1', epoch: 5, transfer: transfer(), file: 0, offset: 0, data: Buffer.alloc(VM_CONFIG_LIMITS.partBytes + 3).toString("base64") }, // (+1 or +2 pass the base64 length and meet the store's bound)
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
        for (let i = 0; i < 48; i++) m.control({ kind: 'request', id: 200 + i, type: 'vmconfig.part', body: { module: 'web1', epoch: 5, transfer: tf, file: 0, offset: i * VM_CONFIG_LIMITS.partBytes, data: chunk } });
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
});
