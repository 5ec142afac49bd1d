import { expect } from 'chai';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClusterRuntime } from '../../src/agent/cluster/runtime';
import { VM_CONFIG_LIMITS, VmConfigCommit, VmConfigPart } from '../../src/agent/messages';
import { gatedVmConfig } from '../../src/agent/vm-config-gate';
import { VmConfigShipper } from '../../src/agent/vm-config-ship';
import type { LoadedConfig, ResolvedModule } from '../../src/config';
import type { Hypervisor } from '../../src/hypervisor/types';
import { componentLogger } from '../../src/log';
import { connectedPair, identities } from '../helpers/peer-pair';
import { hello, rawPeer, type RawPeer } from '../helpers/raw-peer';
import { VM, adversary, body, tree } from './vm-config-adversarial-helpers';

const log = componentLogger('test');

// vmconfig.part is gated as vmconfig.commit is (docs/cluster.md "Registering the replica"): the
// owner, at the epoch this host holds the replica under, before anything is written. Without it a
// stale or hostile peer's first part of a new transfer discarded the transfer in flight, and every
// part could write up to the export's bound. The handlers are the agent's own (gatedVmConfig).

describe('vm-config gate: parts are gated like the commit', function () {
  this.timeout(60_000);
  const { transfer, bytes, work, freshStore } = adversary('vm-config gate');

  /** Sends one raw request from the hostile peer and waits for its answer (a reply or a reply-error). */
  const ask = (m: RawPeer, id: number, b: unknown): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const find = (): Record<string, unknown> | undefined => m.frames.filter((f) => f.type === 'control').map((f) => JSON.parse(f.payload.toString('utf8')) as Record<string, unknown>).find((x) => x.id === id);
      // rawPeer's own 'data' listener (registered first) has decoded the frames when this one runs.
      const onData = (): void => {
        const hit = find();
        if (hit === undefined) return;
        m.socket.off('data', onData);
        resolve(hit);
      };
      m.socket.on('data', onData);
      void m.closed.then(() => reject(new Error(`the server closed the link before answering request ${id}`)));
      m.control({ kind: 'request', id, type: 'vmconfig.part', body: b });
    });

  it('a stale, an unknown or a non-owner epoch\'s part writes nothing and leaves the transfer in flight whole; that transfer then commits', async () => {
    const { store, dir } = await freshStore('gate');
    const module = { name: 'web1', epoch: 5, state: 'SECOND', waitReason: null, owner: 'b', vm: 'off' };
    const rt = new ClusterRuntime({ self: 'a', peerName: 'b', modules: { web1: module } } as never, {} as never, log);
    const pair = await connectedPair();
    const m = await rawPeer(identities().mallory, pair.port);
    try {
      const gated = gatedVmConfig((mod, epoch) => rt.gate(mod, epoch), store);
      pair.server.onRequest(VmConfigPart, gated.part);
      pair.server.onRequest(VmConfigCommit, gated.commit);
      // The owner's transfer, in flight: the first part of a two-part file.
      const data = bytes(VM_CONFIG_LIMITS.partBytes + 1000);
      const file = { name: `Virtual Machines/${VM}.vmcx`, data };
      const t = transfer();
      const first = data.subarray(0, VM_CONFIG_LIMITS.partBytes);
      await pair.clientConn.request(VmConfigPart, { module: 'web1', epoch: 5, transfer: t, file: 0, offset: 0, data: first.toString('base64') }, { timeoutMs: 5000 });
      const incoming = join(dir, 'replicas/web1/vm-config/incoming');
      const before = await tree(incoming);
      expect(before).to.deep.equal([t, `${t}/0.part`]);

      m.control(hello('mallory'));
      await m.next('hello');
      const part = Buffer.alloc(VM_CONFIG_LIMITS.partBytes, 9).toString('base64');
      const hostile = (epoch: number, tr = transfer(), offset = 0): Record<string, unknown> => ({ module: 'web1', epoch, transfer: tr, file: 0, offset, data: part });
      let id = 1;
      const refused = async (b: unknown, code: string): Promise<void> => {
        const a = await ask(m, id++, b);
        expect(a.kind, JSON.stringify(a)).to.equal('reply-error');
        expect(a.code, JSON.stringify(a)).to.equal(code);
        expect(await tree(incoming), 'nothing written, nothing discarded').to.deep.equal(before);
        expect((await readFile(join(incoming, t, '0.part'))).equals(first)).to.equal(true);
      };
      await refused(hostile(4), 'STALE_EPOCH'); // a new transfer would have discarded the one in flight
      await refused(hostile(6), 'STALE_EPOCH'); // an epoch not yet known here
      await refused(hostile(4, t, VM_CONFIG_LIMITS.partBytes), 'STALE_EPOCH'); // the transfer in flight itself, appended to
      for (let i = 0; i < 8; i++) await refused(hostile(4, transfer(), 0), 'STALE_EPOCH'); // a fill: 4 MiB offered, none written
      const noEpoch = await ask(m, id++, { module: 'web1', transfer: transfer(), file: 0, offset: 0, data: '' });
      expect(noEpoch.reason, 'a part without an epoch fails the schema').to.equal('schema');
      expect(await tree(incoming)).to.deep.equal(before);

      // While this host runs the VM (a takeover here), even the current epoch's part is refused.
      Object.assign(module, { state: 'ALONE', owner: 'a', vm: 'running' });
      await refused(hostile(5), 'MODULE_NOT_SECONDARY');
      Object.assign(module, { state: 'SECOND', owner: 'b', vm: 'off' });

      // The owner's transfer goes on and commits whole.
      await pair.clientConn.request(VmConfigPart, { module: 'web1', epoch: 5, transfer: t, file: 0, offset: VM_CONFIG_LIMITS.partBytes, data: data.subarray(VM_CONFIG_LIMITS.partBytes).toString('base64') }, { timeoutMs: 5000 });
      await pair.clientConn.request(VmConfigCommit, body(t, [file]), { timeoutMs: 5000 });
      const cur = (await store.current('web1'))!;
      expect(cur.record.Transfer).to.equal(t);
      expect((await readFile(join(cur.configDir, file.name))).equals(data)).to.equal(true);
    } finally {
      m.socket.destroy();
      await pair.close();
    }
  });

  it('the runner sends every part with the epoch it commits under', async () => {
    const dataDir = join(work(), 'runner');
    const sent: Array<{ type: string; epoch: number }> = [];
    const vm = { id: VM, name: 'WEB1', memoryBytes: 1, processorCount: 1, configurationVersion: '9.0', generation: 2, disks: [{ basePath: 'C:\\vms\\web1.vhdx', controller: 'SCSI', controllerNumber: 0, controllerLocation: 0 }], networkAdapters: [] };
    const hypervisor = {
      getVm: async () => vm,
      exportConfig: async (_id: string, dest: string) => {
        await mkdir(join(dest, 'Virtual Machines'), { recursive: true });
        await writeFile(join(dest, 'Virtual Machines', `${VM}.vmcx`), bytes(VM_CONFIG_LIMITS.partBytes + 10));
        return { vmId: VM, configDir: dest, files: [] };
      },
    } as unknown as Hypervisor;
    const shipper = new VmConfigShipper({
      config: { dataDir, peer: { Name: 'hvb' } } as unknown as LoadedConfig, hypervisor, log, vmIdOf: async () => VM,
      connection: async () => ({ request: async (def: { type: string; body: { parse: (x: unknown) => { epoch: number } } }, b: unknown) => void sent.push({ type: def.type, epoch: def.body.parse(b).epoch }) }) as never,
    });
    await shipper.afterCycle({ name: 'web1', disks: [{ name: 'web1.vhdx', localPath: 'C:\\vms\\web1.vhdx' }] } as unknown as ResolvedModule, 7);
    expect(sent).to.deep.equal([{ type: 'vmconfig.part', epoch: 7 }, { type: 'vmconfig.part', epoch: 7 }, { type: 'vmconfig.commit', epoch: 7 }]);
    expect(await readdir(join(dataDir, 'state', 'web1'))).to.deep.equal([]);
  });
});
