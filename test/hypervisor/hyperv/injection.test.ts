import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { VmId } from '../../../src/hypervisor/types';
import { tempDir } from '../../helpers/tmp';
import { makeMockHost, type MockHost } from './mock-fixture';

// A VM name or path is data, never PowerShell source. Every name below would delete $HOME (or run
// a command) if any layer spliced it into code: the session's HOME is a temp folder holding a
// marker file, and every operation runs on VMs with these names and disks at these paths.

const attack = 'Remove-Item -Recurse -Force $HOME';
const names = [
  `x'; ${attack}; '`,
  `x‘; ${attack}; ‘`,
  `x’; ${attack}; ’`,
  `x‚; ${attack}; ‚`,
  `x‛; ${attack}; ‛`,
  `x'; Remove-Item –Recurse —Force $HOME; '`,
  `$(${attack})`,
  `\`$(${attack})\` \`n \`'`,
  `"; ${attack}; "`,
  `x“; ${attack}; ”„`,
  `x'); ${attack}; ('`,
  `a\n${attack}\n`,
  '* [1] ?',
  'ünïcødé 名前 🚀 \u0000end',
];
const dirPart = `d'q ‘s’ $HOME [1] $(rm) ünï`;
const T = { timeoutMs: 20_000 };
const MiB = 1024 * 1024;
const Home = z.object({ Home: z.string(), EnvHome: z.string() });

describe('src/hypervisor/hyperv (injection)', function () {
  this.timeout(180_000);
  let a: MockHost;
  let b: MockHost;
  let home: { dir: string; cleanup: () => Promise<void> };
  let marker: string;
  const ids = new Map<string, VmId>();

  before(async () => {
    home = await tempDir('vmmirror-home-');
    marker = join(home.dir, 'marker.txt');
    await writeFile(marker, 'still here');
    const extra = { env: { HOME: home.dir }, scriptDirs: [join(__dirname, 'scripts')] };
    a = await makeMockHost({ switchNames: ['LAN', `sw'; ${attack}; '`], hostMemoryBytes: 64 * 1024 * MiB }, extra);
    b = await makeMockHost({ switchNames: ['LAN', `sw'; ${attack}; '`], hostMemoryBytes: 64 * 1024 * MiB }, extra);
    await a.mock('SetHost', { StartMs: 30, StopMs: 30, JobDelayMs: 0 });
    await b.mock('SetHost', { JobDelayMs: 0 });
    for (const [i, name] of names.entries()) {
      ids.set(
        name,
        await a.createVmRaw({
          Name: name,
          HeartbeatDelayMs: 10,
          Disks: [{ Path: join(a.workDir, dirPart, `disk ${i} ‛x‚ $env:HOME [a].vhdx`), SizeBytes: 2 * MiB, Subformat: 'Dynamic' }],
          Adapters: [{ SwitchName: `sw'; ${attack}; '`, Name: `nic ${name}` }],
        }),
      );
    }
  });
  after(async () => {
    await a?.cleanup();
    await b?.cleanup();
    await home?.cleanup();
  });

  it('points $HOME of the PowerShell session at the folder holding the marker', async () => {
    const h = await a.runner.invoke('Get-TestHome', {}, Home, T);
    expect(h.Home).to.equal(home.dir);
    expect(h.EnvHome).to.equal(home.dir);
  });

  it('lists, gets and finds every VM with its name round-tripping exactly', async () => {
    const all = await a.hypervisor.listVms();
    for (const [name, id] of ids) {
      expect(all.find((v) => v.id === id)?.name).to.equal(name);
      expect((await a.hypervisor.getVm(id))?.name).to.equal(name);
      expect((await a.hypervisor.findVmsByName(name)).map((v) => v.id)).to.deep.equal([id]);
    }
    expect(existsSync(marker)).to.equal(true);
  });

  it('runs start, freeze, changed ranges, release, prune, stop, MAC, export, readiness and register on every VM harmlessly', async () => {
    for (const [i, [name, id]] of [...ids].entries()) {
      const ctx = JSON.stringify(name);
      const started = await a.hypervisor.startVm(id, { ...T, waitHeartbeat: true });
      expect(started.name, ctx).to.equal(name);
      const refs = await (await a.hypervisor.freeze(id, T)).release({ commit: true });
      await a.guestWrite(id, 4096, 512, 0x42);
      const view = await a.hypervisor.freeze(id, T);
      try {
        expect(view.disks[0]!.readPath, ctx).to.include(dirPart);
        const [changes] = await a.hypervisor.changedRanges(id, view, refs, T);
        expect(changes!.ranges, ctx).to.deep.equal([{ offset: 4096, length: 512 }]);
      } finally {
        const next = await view.release({ commit: true });
        await a.hypervisor.pruneReferences(id, next);
      }
      await a.hypervisor.stopVm(id, 'TurnOff', T);
      const pinned = await a.hypervisor.setStaticMac(id, { adapterName: `nic ${name}` });
      expect(pinned.networkAdapters[0]!.name, ctx).to.equal(`nic ${name}`);
      expect(pinned.networkAdapters[0]!.switchName, ctx).to.equal(`sw'; ${attack}; '`);
      const src = (await a.hypervisor.getVm(id))!;
      const exported = await a.hypervisor.exportConfig(id, join(a.workDir, `export ${i} ${name.replace(/[\u0000/\n]/g, '_')}`), T);
      const ready = await b.hypervisor.checkReadiness(exported.configDir, { memoryBytes: MiB, timeoutMs: 20_000 });
      expect(ready.canStart, `${ctx}: ${JSON.stringify(ready.issues)}`).to.equal(true);
      const replicaDir = join(b.workDir, `replica ${i} ‘r’ $(x) [z]`);
      await mkdir(replicaDir, { recursive: true });
      const replicaDisk = join(replicaDir, `r'd ${i}.vhdx`);
      await copyFile(src.disks[0]!.basePath, replicaDisk);
      const replica = await b.hypervisor.registerReplica(exported.configDir, [replicaDisk], T);
      expect(replica, ctx).to.include({ id, name, state: 'Off' });
      expect(replica.disks.map((d) => d.path), ctx).to.deep.equal([replicaDisk]);
      expect(existsSync(marker), `marker after ${ctx}`).to.equal(true);
    }
    expect(readFileSync(marker, 'utf8')).to.equal('still here');
  });
});
