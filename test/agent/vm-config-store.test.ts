import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import { hasCode, type ErrorCode } from '../../src/errors';
import { VM_CONFIG_LIMITS, VmConfigCommit, VmConfigPart } from '../../src/agent/messages';
import { VmConfigStore } from '../../src/agent/vm-config-store';
import { seeded } from '../helpers/seed';
import { tempDir } from '../helpers/tmp';

// The store of exported VM configurations on the host that holds the replica: only configured
// modules, only file names an export has, bounded sizes, parts in order, digests checked, and a
// commit that fails at any step leaves the previous export current and whole.

const VM = '0f8fad5b-d9cb-469f-a165-70867728950e';
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<Error> {
  try {
    await p;
  } catch (err) {
    expect(hasCode(err, code), String(err)).to.equal(true);
    return err as Error;
  }
  return expect.fail(`expected ${code}`);
}

describe('src/agent/vm-config-store', function () {
  this.timeout(30_000);
  const rnd = seeded('vm-config-store');
  let dir: string;
  let cleanup: () => Promise<void>;
  let store: VmConfigStore;
  let n = 0;
  const transfer = (): string => (++n).toString(16).padStart(32, '0');
  const bytes = (len: number): Buffer => Buffer.from(Array.from({ length: len }, () => rnd.int(0, 255)));

  before(async () => {
    process.stderr.write(`      seed ${rnd.seed}\n`);
    const t = await tempDir('vmmirror-vmconfig-');
    dir = t.dir;
    cleanup = t.cleanup;
    store = new VmConfigStore({ dataDir: dir, modules: [{ name: 'web1' }] as never });
  });
  after(() => cleanup());

  function commitBody(t: string, files: Array<{ name: string; data: Buffer }>, extra: Partial<z.input<typeof VmConfigCommit.body>> = {}): z.output<typeof VmConfigCommit.body> {
    return VmConfigCommit.body.parse({
      module: 'web1', epoch: 1, transfer: t, vmId: VM, configHash: sha(Buffer.from(t)), disks: ['web1-os.vhdx'],
      adapters: [{ name: 'Network Adapter', macAddress: '00155D0A0B0C', dynamicMac: true }],
      files: files.map((f) => ({ name: f.name, size: f.data.length, sha256: sha(f.data) })), ...extra,
    });
  }

  async function send(t: string, files: Array<{ name: string; data: Buffer }>): Promise<void> {
    for (const [i, f] of files.entries()) {
      for (let off = 0; off < f.data.length || (off === 0 && f.data.length === 0); off += VM_CONFIG_LIMITS.partBytes) {
        await store.putPart('web1', t, i, off, f.data.subarray(off, off + VM_CONFIG_LIMITS.partBytes));
        if (f.data.length === 0) break;
      }
    }
  }

  it('stores a complete export (several parts, two files) under the module folder, byte for byte', async () => {
    const vmcx = { name: `Virtual Machines/${VM}.vmcx`, data: bytes(VM_CONFIG_LIMITS.partBytes * 2 + rnd.int(1, 1000)) };
    const vmgs = { name: `Virtual Machines/${VM.toUpperCase()}.VMGS`, data: bytes(rnd.int(1, 5000)) };
    const t = transfer();
    await send(t, [vmcx, vmgs]);
    await store.commit(commitBody(t, [vmcx, vmgs]));
    const got = (await store.current('web1'))!;
    expect(got.configDir).to.equal(join(dir, 'replicas', 'web1', 'vm-config', t));
    expect(got.record.VmId).to.equal(VM);
    expect(got.record.Adapters[0]!.macAddress).to.equal('00155D0A0B0C');
    expect(await readFile(join(got.configDir, vmcx.name))).to.deep.equal(vmcx.data);
    expect(await readFile(join(got.configDir, vmgs.name))).to.deep.equal(vmgs.data);
    expect(await readdir(join(dir, 'replicas', 'web1', 'vm-config'))).to.not.include('incoming');
  });

  it('refuses file names that are not an export\'s layout (paths, traversal, other extensions), whatever the wire schema let through', async () => {
    const bad = ['../../etc/passwd', `Virtual Machines/../${VM}.vmcx`, `/tmp/${VM}.vmcx`, `Virtual Machines\\${VM}.vmcx`, `Virtual Machines/${VM}.vmcx.ps1`, `Snapshots/${VM}.vmcx`, `Virtual Machines/x.vmcx`, `${VM}.vmcx`];
    for (const name of bad) {
      const t = transfer();
      const data = bytes(10);
      await store.putPart('web1', t, 0, 0, data);
      const err = await expectCode(store.commit(commitBody(t, [{ name, data }])), 'VM_CONFIG_INVALID');
      expect(err.message).to.include(JSON.stringify(name));
    }
    // An export without the VM's own .vmcx is not one either.
    const t = transfer();
    await store.putPart('web1', t, 0, 0, Buffer.from('x'));
    await expectCode(store.commit(commitBody(t, [{ name: `Virtual Machines/${VM}.vmgs`, data: Buffer.from('x') }])), 'VM_CONFIG_INVALID');
    // A module this host does not have chooses no folder.
    await expectCode(store.putPart('../web1', transfer(), 0, 0, Buffer.from('x')), 'MODULE_NOT_FOUND');
    await expectCode(store.current('db9'), 'MODULE_NOT_FOUND');
  });

  it('bounds sizes: a part, a file and the whole export; the wire schema bounds the same', async () => {
    await expectCode(store.putPart('web1', transfer(), 0, 0, Buffer.alloc(VM_CONFIG_LIMITS.partBytes + 1)), 'VM_CONFIG_INVALID');
    await expectCode(store.putPart('web1', transfer(), VM_CONFIG_LIMITS.files, 0, Buffer.alloc(1)), 'VM_CONFIG_INVALID');
    const t = transfer();
    const part = Buffer.alloc(VM_CONFIG_LIMITS.partBytes);
    let off = 0;
    for (; off + part.length <= VM_CONFIG_LIMITS.fileBytes; off += part.length) await store.putPart('web1', t, 0, off, part);
    await expectCode(store.putPart('web1', t, 0, off, Buffer.alloc(1)), 'VM_CONFIG_INVALID');
    let total = off;
    for (let f = 1; total + part.length <= VM_CONFIG_LIMITS.totalBytes; f++) {
      for (let o = 0; o < VM_CONFIG_LIMITS.fileBytes && total + part.length <= VM_CONFIG_LIMITS.totalBytes; o += part.length, total += part.length) await store.putPart('web1', t, f, o, part);
    }
    await expectCode(store.putPart('web1', t, 7, 0, Buffer.alloc(1)), 'VM_CONFIG_INVALID');
    const big = Buffer.alloc(VM_CONFIG_LIMITS.partBytes + 3).toString('base64');
    expect(VmConfigPart.body.safeParse({ module: 'web1', epoch: 5, transfer: t, file: 0, offset: 0, data: big }).success).to.equal(false);
    expect(VmConfigPart.body.safeParse({ module: 'web1', epoch: 5, transfer: t, file: 0, offset: 0, data: Buffer.alloc(VM_CONFIG_LIMITS.partBytes).toString('base64') }).success).to.equal(true);
    expect(VmConfigPart.body.safeParse({ module: '../x', epoch: 5, transfer: t, file: 0, offset: 0, data: '' }).success).to.equal(false);
    expect(VmConfigCommit.body.safeParse({ ...commitBody(transfer(), [{ name: `Virtual Machines/${VM}.vmcx`, data: Buffer.from('x') }]), files: [{ name: `Virtual Machines/${VM}.vmcx`, size: VM_CONFIG_LIMITS.fileBytes + 1, sha256: sha(Buffer.from('x')) }] }).success).to.equal(false);
  });

  it('takes parts only in order, and a new transfer discards an unfinished one', async () => {
    const t = transfer();
    await store.putPart('web1', t, 0, 0, Buffer.from('abc'));
    await expectCode(store.putPart('web1', t, 0, 10, Buffer.from('x')), 'VM_CONFIG_INVALID');
    await expectCode(store.putPart('web1', t, 0, 0, Buffer.from('x')), 'VM_CONFIG_INVALID');
    const t2 = transfer();
    await store.putPart('web1', t2, 0, 0, Buffer.from('x'));
    expect(await readdir(join(dir, 'replicas', 'web1', 'vm-config', 'incoming'))).to.deep.equal([t2]);
  });

  it('a commit that fails (size, digest, the final pointer write) leaves the previous export current and whole', async () => {
    const before = (await store.current('web1'))!;
    const data = bytes(2000);
    const name = `Virtual Machines/${VM}.vmcx`;
    // Fewer bytes than announced, then a wrong digest.
    let t = transfer();
    await store.putPart('web1', t, 0, 0, data.subarray(0, 1000));
    await expectCode(store.commit(commitBody(t, [{ name, data }])), 'VM_CONFIG_INVALID');
    t = transfer();
    const flipped = Buffer.from(data);
    flipped[rnd.int(0, data.length - 1)] ^= 0xff;
    await store.putPart('web1', t, 0, 0, flipped);
    await expectCode(store.commit(commitBody(t, [{ name, data }])), 'VM_CONFIG_INVALID');
    // The last step (current.json's temp file) cannot be made: the files moved, the pointer did not.
    t = transfer();
    await store.putPart('web1', t, 0, 0, data);
    const tmp = join(dir, 'replicas', 'web1', 'vm-config', 'current.json.tmp');
    await mkdir(join(tmp, 'blocker'), { recursive: true });
    await store.commit(commitBody(t, [{ name, data }])).then(() => expect.fail('the commit should fail'), () => undefined);
    const after = (await store.current('web1'))!;
    expect(after.record).to.deep.equal(before.record);
    expect(await readFile(join(after.configDir, before.record.Files[0]!.Name))).to.have.length(before.record.Files[0]!.Size);
    // Once the obstacle is gone the same transfer is sent again and becomes current; the old one is pruned.
    await (await import('node:fs/promises')).rm(tmp, { recursive: true });
    t = transfer();
    await store.putPart('web1', t, 0, 0, data);
    await store.commit(commitBody(t, [{ name, data }]));
    expect((await store.current('web1'))!.record.Transfer).to.equal(t);
    expect((await readdir(join(dir, 'replicas', 'web1', 'vm-config'))).filter((x) => /^[0-9a-f]{32}$/.test(x))).to.deep.equal([t]);
  });

  it('a damaged record or a changed file is VM_CONFIG_INVALID, never used; a pinned export survives later commits', async () => {
    const cur = (await store.current('web1'))!;
    const pinnedDir = await store.pinForRegistration('web1', cur.record);
    expect(pinnedDir).to.equal(cur.configDir);
    const file = join(cur.configDir, cur.record.Files[0]!.Name);
    const original = await readFile(file);
    await writeFile(file, Buffer.concat([original.subarray(0, original.length - 1), Buffer.from([original[original.length - 1]! ^ 1])]));
    await expectCode(store.current('web1'), 'VM_CONFIG_INVALID');
    await writeFile(file, original);
    const data = bytes(100);
    const t = transfer();
    await store.putPart('web1', t, 0, 0, data);
    await store.commit(commitBody(t, [{ name: `Virtual Machines/${VM}.vmcx`, data }]));
    expect(await readFile(file), 'the pinned (registered) export is kept').to.deep.equal(original);
    await writeFile(join(dir, 'replicas', 'web1', 'vm-config', 'current.json'), '{"Version":1,');
    await expectCode(store.current('web1'), 'VM_CONFIG_INVALID');
  });
});
